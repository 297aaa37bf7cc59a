// berth-shim end to end: the bundled shim started with `start` as a daemon
// would, real runc containers on a busybox rootfs, the Task API over ttrpc,
// stdio through FIFOs, and the events it forwards to a stand-in daemon.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthError } from '../core/errors/catalogue.js';
import { DeleteResponse, TaskDefinition } from '../api/gen/containerd/task/v2/shim.js';
import { Status } from '../api/gen/containerd/types/task/task.js';
import * as v1 from '../api/gen/io/containerd/cgroups/v1/metrics.js';
import * as v2 from '../api/gen/io/containerd/cgroups/v2/metrics.js';
import type { Mount } from '../api/gen/containerd/types/mount.js';
import { TtrpcClient, makeClient, type TypedClient } from '../core/ttrpc/client.js';
import { OCI_PROCESS_TYPE_URL, packJson } from '../core/protobuf/typeurl.js';
import { MNT, umount2 } from '../native/index.js';
import { busyboxAvailable, makeBusyboxRootfs } from './fixtures/busybox-rootfs.js';
import { execProcess, makeBundle } from './fixtures/oci-bundle.js';
import {
  EventSink,
  buildShimBundle,
  isAlive,
  makeFifo,
  openShimLog,
  readFifo,
  runShim,
  waitUntil,
  writeFifo,
} from './fixtures/shim-harness.js';

const canRun =
  process.getuid?.() === 0 &&
  busyboxAvailable() &&
  ['/usr/sbin/runc', '/usr/bin/runc'].some((p) => fs.existsSync(p));

const NS = `shimtest${process.pid}`;
const RUNC_ROOT = `/run/berth/runc/${NS}`;
const SIGKILL = 9;

type Task = TypedClient<typeof TaskDefinition>;

interface Started {
  id: string;
  bundle: string;
  address: string;
  shimPid: number;
  client: TtrpcClient;
  task: Task;
}

let root = '';
let rootfsSource = '';
let daemonAddress = '';
let sink: EventSink;
const started: Started[] = [];
const containerIds = new Set<string>();
const bundles: string[] = [];
const logClosers: (() => void)[] = [];
/** BERTH_TEST_SHIM_LOG=1 shows the shims' logs (run with -debug). */
const showShimLog = !!process.env.BERTH_TEST_SHIM_LOG;

function code(err: unknown): string | undefined {
  return err instanceof BerthError ? err.code : undefined;
}

async function expectCode(p: Promise<unknown>, expected: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${expected}`).toBeInstanceOf(BerthError);
  expect(code(err)).toBe(expected);
}

function rootfsMounts(): Mount[] {
  return [{ type: 'bind', source: rootfsSource, target: '', options: ['rbind', 'rw'] }];
}

function shimEnv(): NodeJS.ProcessEnv {
  return { TTRPC_ADDRESS: sink.socket };
}

function newBundle(
  id: string,
  args: string[],
  extra: { terminal?: boolean; annotations?: Record<string, string> } = {},
) {
  const bundle = path.join(root, 'bundles', id);
  makeBundle(bundle, { id, namespace: NS, args, ...extra });
  bundles.push(bundle);
  logClosers.push(
    openShimLog(bundle, (line) => showShimLog && process.stderr.write(`[shim ${id}] ${line}\n`)),
  );
  return bundle;
}

async function startShim(id: string, bundle: string): Promise<Started> {
  const debug = showShimLog ? ['-debug'] : [];
  const r = await runShim(
    [
      ...debug,
      '-namespace',
      NS,
      '-address',
      daemonAddress,
      '-publish-binary',
      '/bin/false',
      '-id',
      id,
      'start',
    ],
    {
      cwd: bundle,
      env: shimEnv(),
    },
  );
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const address = r.stdout.toString('utf8');
  const shimPid = Number(fs.readFileSync(path.join(bundle, 'shim.pid'), 'utf8'));
  const client = await TtrpcClient.connect(address, { timeoutMs: 5000 });
  const s: Started = {
    id,
    bundle,
    address,
    shimPid,
    client,
    task: makeClient(TaskDefinition, client),
  };
  started.push(s);
  return s;
}

function fifos(
  id: string,
  ...names: ('stdin' | 'stdout' | 'stderr')[]
): Record<'stdin' | 'stdout' | 'stderr', string> {
  const dir = path.join(root, 'fifo', id);
  fs.mkdirSync(dir, { recursive: true });
  const out = { stdin: '', stdout: '', stderr: '' };
  for (const n of names) out[n] = makeFifo(path.join(dir, `${id}-${n}`));
  return out;
}

async function create(
  s: Started,
  io: Partial<Record<'stdin' | 'stdout' | 'stderr', string>>,
  terminal = false,
) {
  containerIds.add(s.id);
  return s.task.create({
    id: s.id,
    bundle: s.bundle,
    rootfs: rootfsMounts(),
    terminal,
    stdin: io.stdin ?? '',
    stdout: io.stdout ?? '',
    stderr: io.stderr ?? '',
    checkpoint: '',
    parentCheckpoint: '',
    options: undefined,
  });
}

function isMounted(p: string): boolean {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === p);
}

async function shutdownAndExpectExit(s: Started): Promise<void> {
  await s.task.shutdown({ id: s.id, now: false }).catch(() => {});
  await waitUntil(() => !isAlive(s.shimPid), 10_000);
  expect(fs.existsSync(s.address.slice('unix://'.length))).toBe(false);
}

describe.skipIf(!canRun)('berth-shim with runc', () => {
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-shim-'));
    rootfsSource = makeBusyboxRootfs(path.join(root, 'rootfs-src'));
    daemonAddress = path.join(root, 'berthd.sock');
    sink = await EventSink.listen(path.join(root, 'events.sock'));
    await buildShimBundle();
  });

  afterAll(async () => {
    for (const s of started) s.client.close();
    for (const id of containerIds) {
      try {
        execFileSync('runc', ['--root', RUNC_ROOT, 'delete', '--force', id], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    }
    for (const s of started) {
      if (isAlive(s.shimPid)) process.kill(s.shimPid, 'SIGKILL');
      fs.rmSync(s.address.slice('unix://'.length), { force: true });
    }
    for (const b of bundles) {
      for (let i = 0; i < 8; i++) {
        try {
          umount2(path.join(b, 'rootfs'), MNT.DETACH);
        } catch {
          break;
        }
      }
    }
    for (const close of logClosers) close();
    await sink?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(RUNC_ROOT, { recursive: true, force: true });
  });

  it('start prints only a dialable address and records it in the bundle', async () => {
    const id = 'start-only';
    const bundle = newBundle(id, ['true']);
    const s = await startShim(id, bundle);
    expect(s.address).toMatch(/^unix:\/\/\/run\/berth\/s\/[0-9a-f]{32}$/);
    expect(fs.readFileSync(path.join(bundle, 'address'), 'utf8')).toBe(s.address);
    const info = await s.task.connect({ id });
    expect(info.shimPid).toBe(s.shimPid);
    expect(info.taskPid).toBe(0);
    await shutdownAndExpectExit(s);
  });

  it('runs a container: FIFO output, exit status, state, events in order', async () => {
    const id = 'exit3';
    const bundle = newBundle(id, ['sh', '-c', 'echo hello; echo oops >&2; exit 3']);
    const s = await startShim(id, bundle);
    const io = fifos(id, 'stdout', 'stderr');
    const { pid } = await create(s, io);
    expect(pid).toBeGreaterThan(0);
    expect(isMounted(path.join(bundle, 'rootfs'))).toBe(true);
    expect((await s.task.state({ id, execId: '' })).status).toBe(Status.CREATED);

    const stdout = readFifo(io.stdout);
    const stderr = readFifo(io.stderr);
    const waited = s.task.wait({ id, execId: '' });
    expect((await s.task.start({ id, execId: '' })).pid).toBe(pid);
    const exit = await waited;
    expect(exit.exitStatus).toBe(3);
    expect(await stdout).toBe('hello\n');
    expect(await stderr).toBe('oops\n');

    const st = await s.task.state({ id, execId: '' });
    expect(st.status).toBe(Status.STOPPED);
    expect(st.exitStatus).toBe(3);
    expect(st.pid).toBe(pid);
    await expectCode(s.task.start({ id, execId: '' }), 'FailedPrecondition');

    const del = await s.task.delete({ id, execId: '' });
    expect(del.exitStatus).toBe(3);
    expect(del.pid).toBe(pid);
    expect(isMounted(path.join(bundle, 'rootfs'))).toBe(false);
    await expectCode(s.task.state({ id, execId: '' }), 'NotFound');

    await sink.waitFor(() => sink.forContainer(id).some((e) => e.topic === '/tasks/delete'));
    const evs = sink.forContainer(id);
    expect(evs.map((e) => e.topic)).toEqual([
      '/tasks/create',
      '/tasks/start',
      '/tasks/exit',
      '/tasks/delete',
    ]);
    expect(evs.map((e) => e.typeUrl)).toEqual([
      'containerd.events.TaskCreate',
      'containerd.events.TaskStart',
      'containerd.events.TaskExit',
      'containerd.events.TaskDelete',
    ]);
    for (const e of evs) {
      expect(e.namespace).toBe(NS);
      expect(e.metadataNamespace).toBe(NS);
    }
    expect(evs[0]!.event).toMatchObject({ containerId: id, bundle, pid });
    expect(evs[2]!.event).toMatchObject({ containerId: id, id, pid, exitStatus: 3 });
    expect(evs[3]!.event).toMatchObject({ containerId: id, pid, exitStatus: 3 });

    await shutdownAndExpectExit(s);
  });

  it('kills, pauses, reports pids and stats, and runs execs', async () => {
    const id = 'sleeper';
    const bundle = newBundle(id, ['sleep', '1000']);
    const s = await startShim(id, bundle);
    const { pid } = await create(s, {});
    await s.task.start({ id, execId: '' });
    expect((await s.task.state({ id, execId: '' })).status).toBe(Status.RUNNING);
    expect((await s.task.connect({ id })).taskPid).toBe(pid);
    await expectCode(s.task.delete({ id, execId: '' }), 'FailedPrecondition');

    const pids = await s.task.pids({ id });
    expect(pids.processes.map((p) => p.pid)).toContain(pid);

    const { stats } = await s.task.stats({ id });
    if (stats!.typeUrl === 'io.containerd.cgroups.v2.Metrics') {
      const m = v2.Metrics.decode(stats!.value);
      expect(m.pids?.current).toBeGreaterThanOrEqual(1);
    } else {
      expect(stats!.typeUrl).toBe('io.containerd.cgroups.v1.Metrics');
      const m = v1.Metrics.decode(stats!.value);
      expect(m.pids?.current).toBeGreaterThanOrEqual(1);
      expect(m.memory?.usage?.usage).toBeGreaterThan(0);
    }

    // An exec with its own output and exit status.
    const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    const eio = fifos('e1', 'stdout');
    await s.task.exec({
      id,
      execId: 'e1',
      terminal: false,
      stdin: '',
      stdout: eio.stdout,
      stderr: '',
      spec: packJson(
        OCI_PROCESS_TYPE_URL,
        execProcess(spec, ['sh', '-c', 'echo exec-out; exit 5']),
      ),
    });
    expect((await s.task.state({ id, execId: 'e1' })).status).toBe(Status.CREATED);
    const execOut = readFifo(eio.stdout);
    const execWait = s.task.wait({ id, execId: 'e1' });
    const { pid: execPid } = await s.task.start({ id, execId: 'e1' });
    expect(execPid).toBeGreaterThan(0);
    expect((await execWait).exitStatus).toBe(5);
    expect(await execOut).toBe('exec-out\n');
    await expectCode(s.task.start({ id, execId: 'e1' }), 'FailedPrecondition');
    expect((await s.task.delete({ id, execId: 'e1' })).exitStatus).toBe(5);
    await expectCode(s.task.state({ id, execId: 'e1' }), 'NotFound');

    // A fast exec: its exit must still come after its exec-started.
    await s.task.exec({
      id,
      execId: 'e2',
      terminal: false,
      stdin: '',
      stdout: '',
      stderr: '',
      spec: packJson(OCI_PROCESS_TYPE_URL, execProcess(spec, ['true'])),
    });
    await s.task.start({ id, execId: 'e2' });
    expect((await s.task.wait({ id, execId: 'e2' })).exitStatus).toBe(0);

    await s.task.pause({ id });
    expect((await s.task.state({ id, execId: '' })).status).toBe(Status.PAUSED);
    await expectCode(s.task.pause({ id }), 'FailedPrecondition');
    await s.task.resume({ id });
    expect((await s.task.state({ id, execId: '' })).status).toBe(Status.RUNNING);

    const waited = s.task.wait({ id, execId: '' });
    await s.task.kill({ id, execId: '', signal: SIGKILL, all: false });
    expect((await waited).exitStatus).toBe(137);
    await expectCode(s.task.kill({ id, execId: '', signal: SIGKILL, all: false }), 'NotFound');
    await expectCode(
      s.task.exec({
        id,
        execId: 'late',
        terminal: false,
        stdin: '',
        stdout: '',
        stderr: '',
        spec: packJson(OCI_PROCESS_TYPE_URL, execProcess(spec, ['true'])),
      }),
      'FailedPrecondition',
    );
    await expectCode(
      s.task.checkpoint({ id, path: '/tmp/x', options: undefined }),
      'FailedPrecondition',
    );

    await s.task.delete({ id, execId: '' });
    await sink.waitFor(() => sink.forContainer(id).some((e) => e.topic === '/tasks/delete'));
    const topics = sink
      .forContainer(id)
      .map(
        (e) =>
          `${e.topic}${e.event.execId ?? (e.event.id && e.event.id !== id ? `:${e.event.id}` : '')}`,
      );
    expect(topics).toEqual([
      '/tasks/create',
      '/tasks/start',
      '/tasks/exec-addede1',
      '/tasks/exec-startede1',
      '/tasks/exit:e1',
      '/tasks/exec-addede2',
      '/tasks/exec-startede2',
      '/tasks/exit:e2',
      '/tasks/paused',
      '/tasks/resumed',
      '/tasks/exit',
      '/tasks/delete',
    ]);
    const initExit = sink
      .forContainer(id)
      .find((e) => e.topic === '/tasks/exit' && e.event.id === id);
    expect(initExit?.event).toMatchObject({ pid, exitStatus: 137 });
    await shutdownAndExpectExit(s);
  });

  it('feeds stdin from a FIFO until CloseIO', async () => {
    const id = 'cat';
    const bundle = newBundle(id, ['cat']);
    const s = await startShim(id, bundle);
    const io = fifos(id, 'stdin', 'stdout');
    await create(s, io);
    const input = writeFifo(io.stdin);
    const output = readFifo(io.stdout);
    const waited = s.task.wait({ id, execId: '' });
    await s.task.start({ id, execId: '' });
    await new Promise<void>((resolve) => input.write('ping\n', () => resolve()));
    await s.task.closeIO({ id, execId: '', stdin: true });
    expect((await waited).exitStatus).toBe(0);
    expect(await output).toBe('ping\n');
    input.destroy();
    await s.task.delete({ id, execId: '' });
    await shutdownAndExpectExit(s);
  });

  it('gives a terminal process a pty', async () => {
    const id = 'tty';
    const bundle = newBundle(id, ['sh', '-c', 'tty; echo hi; exit 7'], { terminal: true });
    const s = await startShim(id, bundle);
    const io = fifos(id, 'stdout');
    await create(s, io, true);
    const output = readFifo(io.stdout);
    const waited = s.task.wait({ id, execId: '' });
    await s.task.start({ id, execId: '' });
    expect((await waited).exitStatus).toBe(7);
    const text = await output;
    expect(text).toMatch(/\/dev\/pts\/\d+\r?\n/);
    expect(text).toContain('hi\r\n');
    await s.task.delete({ id, execId: '' });
    await shutdownAndExpectExit(s);
  });

  it('groups containers with the same sandbox annotation into one shim', async () => {
    const annotations = { 'io.kubernetes.cri.sandbox-id': `pod-${process.pid}` };
    const a = newBundle('grp-a', ['sleep', '1000'], { annotations });
    const b = newBundle('grp-b', ['sh', '-c', 'exit 0'], { annotations });
    const sa = await startShim('grp-a', a);
    const r = await runShim(
      ['-namespace', NS, '-address', daemonAddress, '-id', 'grp-b', 'start'],
      {
        cwd: b,
        env: shimEnv(),
      },
    );
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(sa.address);
    expect(fs.readFileSync(path.join(b, 'address'), 'utf8')).toBe(sa.address);
    expect(fs.existsSync(path.join(b, 'shim.pid'))).toBe(false);

    await create(sa, {});
    await create({ ...sa, id: 'grp-b', bundle: b }, {});
    const bWait = sa.task.wait({ id: 'grp-b', execId: '' });
    await sa.task.start({ id: 'grp-a', execId: '' });
    await sa.task.start({ id: 'grp-b', execId: '' });
    expect((await bWait).exitStatus).toBe(0);
    await sa.task.delete({ id: 'grp-b', execId: '' });
    // One container left: a polite Shutdown keeps the shim.
    await sa.task.shutdown({ id: 'grp-b', now: false });
    await new Promise((r) => setTimeout(r, 200));
    expect(isAlive(sa.shimPid)).toBe(true);
    expect((await sa.task.state({ id: 'grp-a', execId: '' })).status).toBe(Status.RUNNING);

    const aWait = sa.task.wait({ id: 'grp-a', execId: '' });
    await sa.task.kill({ id: 'grp-a', execId: '', signal: SIGKILL, all: true });
    expect((await aWait).exitStatus).toBe(137);
    await sa.task.delete({ id: 'grp-a', execId: '' });
    await shutdownAndExpectExit(sa);
  });

  it('reports a failed create and leaves nothing mounted', async () => {
    const id = 'badcmd';
    const bundle = newBundle(id, ['/no/such/binary']);
    const s = await startShim(id, bundle);
    const err = await create(s, {}).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/no such file or directory/);
    expect(isMounted(path.join(bundle, 'rootfs'))).toBe(false);
    await expectCode(s.task.state({ id, execId: '' }), 'NotFound');
    await shutdownAndExpectExit(s);
  });

  it('delete cleans up after a shim that died', async () => {
    const id = 'orphan';
    const bundle = newBundle(id, ['sleep', '1000']);
    const s = await startShim(id, bundle);
    const { pid } = await create(s, {});
    await s.task.start({ id, execId: '' });
    s.client.close();
    process.kill(s.shimPid, 'SIGKILL');
    await waitUntil(() => !isAlive(s.shimPid));

    const r = await runShim(
      ['-namespace', NS, '-address', daemonAddress, '-id', id, '-bundle', bundle, 'delete'],
      {
        cwd: bundle,
        env: shimEnv(),
      },
    );
    expect(r.code).toBe(0);
    const res = DeleteResponse.decode(r.stdout);
    expect(res.pid).toBe(pid);
    expect(res.exitStatus).toBe(137);
    expect(res.exitedAt?.seconds).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(isMounted(path.join(bundle, 'rootfs'))).toBe(false);
    expect(fs.existsSync(s.address.slice('unix://'.length))).toBe(false);
    expect(() =>
      execFileSync('runc', ['--root', RUNC_ROOT, 'state', id], { stdio: 'pipe' }),
    ).toThrow();
  });
});
