// Tasks through berthd: the tasks plugin starting real shims (Berth's own and
// Debian's containerd-shim-runc-v2) that run real runc containers, plus the
// faults the task manager must survive.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import { BerthError } from '../core/errors/catalogue.js';
import { TaskExit } from '../api/gen/containerd/events/task.js';
import { Status } from '../api/gen/containerd/types/task/task.js';
import {
  generateDefaultSpec,
  withEnv,
  withProcessArgs,
  withRootfs,
  withTTY,
} from '../core/oci/index.js';
import { unpackAny } from '../core/protobuf/typeurl.js';
import { busyboxAvailable, makeBusyboxRootfs } from './fixtures/busybox-rootfs.js';
import { haveContainerd, CTR } from './helpers/containerd.js';
import { berth, run, startDaemon, type TestDaemon } from './helpers/daemon.js';
import { killLeftoverShims, removeAllTasks, taskStateDir, waitFor } from './helpers/tasks.js';

const RUNC_SHIM = '/usr/bin/containerd-shim-runc-v2';
const canRun =
  process.getuid?.() === 0 &&
  busyboxAvailable() &&
  ['/usr/sbin/runc', '/usr/bin/runc'].some((p) => fs.existsSync(p));

const NS = `tasks${process.pid}`;

describe.skipIf(!canRun)('tasks through berthd', () => {
  let d: TestDaemon;
  let tmp: string;
  let rootfs: string;
  let client: Client;

  const spec = (id: string, ...args: string[]) =>
    generateDefaultSpec({ id, namespace: NS }, [
      withRootfs(rootfs),
      withEnv(['PATH=/bin']),
      withProcessArgs(...args),
    ]) as unknown as Record<string, unknown>;

  const newContainer = (id: string, args: string[], runtime = 'io.containerd.berth.v2') =>
    client.newContainer({ id, spec: spec(id, ...args), runtime });

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-tasks-'));
    rootfs = makeBusyboxRootfs(path.join(tmp, 'rootfs'));
    d = await startDaemon();
    client = new Client({ address: d.address, namespace: NS });
  });

  afterEach(async () => {
    await removeAllTasks(client);
  });

  afterAll(async () => {
    if (client) {
      await removeAllTasks(client);
      client.close();
    }
    if (d) {
      killLeftoverShims(d.state);
      await d.dispose();
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const runtimes = [
    { name: 'berth-shim', runtime: 'io.containerd.berth.v2', ok: true },
    {
      name: "Debian's containerd-shim-runc-v2",
      runtime: 'io.containerd.runc.v2',
      ok: fs.existsSync(RUNC_SHIM),
    },
  ];

  for (const r of runtimes) {
    it.skipIf(!r.ok)(
      `runs a container through ${r.name}: output, exit code, exec, kill, delete`,
      async () => {
        const id = r.runtime.includes('berth') ? 'viaberth' : 'viarunc';
        const c = await newContainer(id, ['sh', '-c', 'echo out; echo err >&2; exit 3'], r.runtime);
        const task = await c.newTask({ stdio: true, fifoRoot: tmp });
        let out = '';
        let err = '';
        task.io!.stdout.on('data', (b) => (out += b));
        task.io!.stderr.on('data', (b) => (err += b));
        const exited = task.wait();
        expect(task.pid).toBeGreaterThan(0);
        expect((await task.status()).status).toBe(Status.CREATED);
        await task.start();
        expect((await exited).exitStatus).toBe(3);
        expect((await task.delete()).exitStatus).toBe(3);
        expect(out).toBe('out\n');
        expect(err).toBe('err\n');
        await c.delete();

        // A long-running one: exec, pids, pause/resume, kill.
        const sleeper = await newContainer(`${id}-s`, ['sleep', '300'], r.runtime);
        const st = await sleeper.newTask();
        await st.start();
        expect((await st.status()).status).toBe(Status.RUNNING);
        if (r.runtime.includes('berth')) {
          // Inline start: the process berthd ran as `start` is the server itself.
          const bundle = path.join(taskStateDir(d.state), NS, `${id}-s`);
          const shimPid = fs.readFileSync(path.join(bundle, 'shim.pid'), 'utf8');
          const argv = fs.readFileSync(`/proc/${shimPid}/cmdline`, 'utf8').split('\0');
          expect(argv).toContain('start');
          expect(fs.readlinkSync(`/proc/${shimPid}/fd/1`)).toBe('/dev/null');
        }
        const ex = await st.exec(
          'e1',
          { args: ['sh', '-c', 'echo from-exec; exit 4'] },
          { stdio: true, fifoRoot: tmp },
        );
        let exOut = '';
        ex.io!.stdout.on('data', (b) => (exOut += b));
        const exExit = ex.wait();
        await ex.start();
        expect((await exExit).exitStatus).toBe(4);
        await ex.delete();
        expect(exOut).toBe('from-exec\n');
        expect((await st.pids()).map((p) => p.pid)).toContain(st.pid);
        await st.pause();
        expect((await st.status()).status).toBe(Status.PAUSED);
        await st.resume();
        const [m] = await client.tasks.metrics(`id==${id}-s`);
        expect(m?.data?.typeUrl).toMatch(/cgroups\.v[12]\.Metrics/);
        const done = st.wait();
        await st.kill(9);
        expect((await done).exitStatus).toBe(137);
        expect((await st.delete()).exitStatus).toBe(137);
        await sleeper.delete();
        expect(fs.readdirSync(path.join(taskStateDir(d.state), NS))).toEqual([]);
      },
    );
  }

  it('feeds stdin and closes it', async () => {
    const c = await newContainer('stdin1', ['sh', '-c', 'read a; read b; echo "$b-$a"']);
    const t = await c.newTask({ stdio: true, stdin: true, fifoRoot: tmp });
    let out = '';
    t.io!.stdout.on('data', (b) => (out += b));
    const exited = t.wait();
    await t.start();
    t.io!.stdin!.write('one\ntwo\n');
    await t.closeStdin();
    expect((await exited).exitStatus).toBe(0);
    await t.delete();
    expect(out).toBe('two-one\n');
  });

  it('gives a terminal task a pty and resizes it', async () => {
    const id = 'tty1';
    const c = await client.newContainer({
      id,
      spec: generateDefaultSpec({ id, namespace: NS }, [
        withRootfs(rootfs),
        withEnv(['PATH=/bin']),
        withTTY({ width: 80, height: 24 }),
        withProcessArgs('sh', '-c', 'stty size; sleep 1; stty size'),
      ]) as unknown as Record<string, unknown>,
    });
    const t = await c.newTask({ stdio: true, terminal: true, fifoRoot: tmp });
    let out = '';
    t.io!.stdout.on('data', (b) => (out += b));
    const exited = t.wait();
    await t.start();
    await waitFor(async () => out.includes('\n') || undefined, 5_000, 'the first size');
    await t.resize(100, 40);
    expect((await exited).exitStatus).toBe(0);
    await t.delete();
    expect(out.replace(/\r/g, '')).toBe('24 80\n40 100\n');
  });

  it.skipIf(!haveContainerd)("lists tasks to containerd's ctr", async () => {
    const c = await newContainer('forctr', ['sleep', '300']);
    const t = await c.newTask();
    await t.start();
    const r = await run(CTR, ['-a', d.address, '-n', NS, 'tasks', 'ls']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`forctr\\s+${t.pid}\\s+RUNNING`));
  });

  it('rejects bad input with the right codes', async () => {
    const code = async (p: Promise<unknown>) => {
      try {
        await p;
        return 'OK';
      } catch (err) {
        return (err as BerthError).code;
      }
    };
    expect(await code(client.tasks.create({ containerId: 'bad/id' }))).toBe('InvalidArgument');
    expect(await code(client.tasks.create({ containerId: 'nosuch' }))).toBe('NotFound');
    expect(await code(client.tasks.kill('nosuch', 9))).toBe('NotFound');
    const c = await newContainer('bad1', ['true']);
    const t = await c.newTask();
    expect(await code(c.newTask())).toBe('AlreadyExists');
    const exited = t.wait();
    await t.start();
    await exited;
    expect(await code(t.exec('e1', { args: ['true'] }))).toBe('FailedPrecondition');
    const c2 = await newContainer('bad2', ['sleep', '300']);
    const t2 = await c2.newTask();
    await t2.start();
    expect(await code(t2.exec('../x', { args: ['true'] }))).toBe('InvalidArgument');
    expect(await code(client.tasks.kill('bad2', 0))).toBe('InvalidArgument');
    expect(await code(client.tasks.delete('bad2'))).toBe('FailedPrecondition');
    await newContainer('bad3', ['true']);
    expect(
      await code(client.tasks.create({ containerId: 'bad3', runtimePath: 'relative/shim' })),
    ).toBe('InvalidArgument');
    expect(fs.existsSync(path.join(taskStateDir(d.state), NS, 'bad3'))).toBe(false);
    const c3 = await client.newContainer({
      id: 'bad4',
      spec: spec('bad4', 'true'),
      runtime: 'io.containerd.nosuch.v9',
    });
    expect(await code(c3.newTask())).toBe('NotFound');
    expect(fs.existsSync(path.join(taskStateDir(d.state), NS, 'bad4'))).toBe(false);
  });

  it("maps runc's failures to codes and keeps runc's message", async () => {
    const failure = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        return { code: (err as BerthError).code, message: (err as Error).message };
      }
      throw new Error('expected a failure');
    };
    for (const runtime of ['io.containerd.berth.v2', 'io.containerd.runc.v2']) {
      if (runtime.includes('runc') && !fs.existsSync(RUNC_SHIM)) continue;
      const tag = runtime.split('.')[2];
      // An executable that is not in the image: runc create fails at exec.
      const noExe = await newContainer(`noexe-${tag}`, ['/no/such/binary'], runtime);
      const f1 = await failure(noExe.newTask());
      if (runtime.includes('berth')) expect(f1.code).toBe('NotFound');
      expect(f1.message).toMatch(/no such file or directory|not found/);
      await noExe.delete();
    }
    // A rootfs that is not there.
    const noRoot = await client.newContainer({
      id: 'noroot',
      spec: generateDefaultSpec({ id: 'noroot', namespace: NS }, [
        withRootfs(path.join(tmp, 'missing-rootfs')),
        withProcessArgs('true'),
      ]) as unknown as Record<string, unknown>,
      runtime: 'io.containerd.berth.v2',
    });
    const f2 = await failure(noRoot.newTask());
    expect(f2.code).toBe('NotFound');
    expect(f2.message).toMatch(/rootfs/);
    await noRoot.delete();
  });

  it('reports a task whose shim was killed as exited 137 and cleans up after it', async () => {
    // Subscribed before anything happens: the stream starts on first read.
    const abort = new AbortController();
    const events = client.events.subscribe([`topic=="/tasks/exit",namespace==${NS}`], abort.signal);
    const exitEvent = (async () => {
      for await (const e of events) {
        const exit = unpackAny(e.event, 'containerd.events.TaskExit', TaskExit);
        if (exit?.containerId === 'victim') return exit;
      }
      return undefined;
    })();
    const c = await newContainer('victim', ['sleep', '300']);
    const t = await c.newTask();
    await t.start();
    const bundle = path.join(taskStateDir(d.state), NS, 'victim');
    const shimPid = Number(fs.readFileSync(path.join(bundle, 'shim.pid'), 'utf8'));
    const waited = t.wait();
    process.kill(shimPid, 'SIGKILL');
    expect((await waited).exitStatus).toBe(137);
    expect((await exitEvent)?.exitStatus).toBe(137);
    abort.abort();
    await waitFor(async () => !fs.existsSync(bundle), 10_000, 'the bundle to be removed');
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(bundle);
    await expect(client.tasks.get('victim')).rejects.toMatchObject({ code: 'NotFound' });
    // The container process died with its runc state.
    const gone = () => {
      try {
        // A zombie waiting for whoever inherited it counts as dead.
        return fs.readFileSync(`/proc/${t.pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z');
      } catch {
        return true;
      }
    };
    await waitFor(async () => gone() || undefined, 5_000, 'the container process to die');
  });

  it('starts 20 tasks concurrently', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `many${i}`);
    const results = await Promise.allSettled(
      ids.map(async (id) => {
        const c = await newContainer(id, ['sleep', '300']);
        const t = await c.newTask();
        await t.start();
        return t.pid;
      }),
    );
    const failed = results.filter((r) => r.status === 'rejected');
    expect(failed).toEqual([]);
    const listed = await client.tasks.list();
    expect(
      listed
        .filter((p) => p.status === Status.RUNNING)
        .map((p) => p.id)
        .sort(),
    ).toEqual([...ids].sort());
  });

  it('keeps containers running across kill -9 of berthd and reports exits it missed', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `survive${i}`);
    const pids = new Map<string, number>();
    for (const id of ids) {
      const c = await newContainer(id, ['sleep', '300']);
      const t = await c.newTask();
      await t.start();
      pids.set(id, t.pid);
    }
    // One that exits while the daemon is down, with a code of its own.
    const late = await newContainer('late', ['sh', '-c', 'sleep 1; exit 42']);
    const lt = await late.newTask();
    await lt.start();

    client.close();
    await d.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 1_500));
    await d.restart();
    client = new Client({ address: d.address, namespace: NS });

    const listed = await client.tasks.list();
    for (const id of ids) {
      const p = listed.find((t) => t.id === id);
      expect(p?.status, id).toBe(Status.RUNNING);
      expect(p?.pid).toBe(pids.get(id));
    }
    const l = await client.tasks.get('late');
    expect(l.status).toBe(Status.STOPPED);
    expect(l.exitStatus).toBe(42);
    expect((await client.tasks.wait('late')).exitStatus).toBe(42);
    // And they are still fully controllable.
    const t0 = await (await client.loadContainer('survive0')).task();
    const done = t0.wait();
    // (SIGKILL: a sleep running as pid 1 ignores SIGTERM.)
    await t0.kill(9);
    expect((await done).exitStatus).toBe(137);
  });

  it('keeps `berth run -d` tasks RUNNING across a SIGTERM restart and reports exits it missed', async () => {
    const marker = path.join(rootfs, 'tmp', `go-${process.pid}`);
    const runD = (id: string, ...args: string[]) =>
      berth(d, ['run', '-d', '--rootfs', rootfs, id, ...args], { namespace: NS });
    expect((await runD('steady', 'sleep', '300')).code).toBe(0);
    // Exits with 42 while berthd is down, once the marker appears.
    const waitsForMarker = `while [ ! -e /tmp/${path.basename(marker)} ]; do sleep 0.1; done; exit 42`;
    expect((await runD('quitter', 'sh', '-c', waitsForMarker)).code).toBe(0);
    const before = await client.tasks.list();
    const pidOf = (id: string) => before.find((t) => t.id === id)?.pid ?? 0;
    expect(pidOf('steady')).toBeGreaterThan(0);

    client.close();
    try {
      expect(await d.stop('SIGTERM')).toBe(0);
      fs.writeFileSync(marker, '');
      await waitFor(async () => !fs.existsSync(`/proc/${pidOf('quitter')}`), 10_000, 'exit');
    } finally {
      fs.rmSync(marker, { force: true });
      await d.restart();
      client = new Client({ address: d.address, namespace: NS });
    }

    const ls = await berth(d, ['t', 'ls'], { namespace: NS });
    expect(ls.stdout).toMatch(new RegExp(`^steady\\s+${pidOf('steady')}\\s+RUNNING$`, 'm'));
    expect(ls.stdout).toMatch(/^quitter\s+\d+\s+STOPPED$/m);
    expect((await client.tasks.get('quitter')).exitStatus).toBe(42);
    // Still controllable: the kill reaches the same process.
    expect((await berth(d, ['t', 'rm', '-f', 'steady'], { namespace: NS })).stdout).toBe(
      'steady\t137\n',
    );
    expect((await berth(d, ['t', 'rm', 'quitter'], { namespace: NS })).stdout).toBe(
      'quitter\t42\n',
    );
  });

  it('adopts a shim that is slow to answer after a restart instead of killing its task', async () => {
    const c = await newContainer('slowshim', ['sleep', '300']);
    const t = await c.newTask();
    await t.start();
    const shimPid = Number(
      fs.readFileSync(path.join(taskStateDir(d.state), NS, 'slowshim', 'shim.pid'), 'utf8'),
    );
    client.close();
    await d.stop('SIGKILL');
    // A stopped shim still accepts connections (the kernel queues them) but answers nothing.
    process.kill(shimPid, 'SIGSTOP');
    const resume = () => {
      try {
        process.kill(shimPid, 'SIGCONT');
      } catch {
        /* gone */
      }
    };
    const logged = d.logs().length;
    let restarted: Promise<void> | undefined;
    try {
      restarted = d.restart();
      await waitFor(
        async () => /shim did not answer|shim not reconnected/.test(d.logs().slice(logged)),
        20_000,
        'a missed reconnect',
      );
    } finally {
      resume();
      await restarted;
      client = new Client({ address: d.address, namespace: NS });
    }
    const after = await client.tasks.get('slowshim');
    expect(after.status).toBe(Status.RUNNING);
    expect(after.pid).toBe(t.pid);
  });

  it('berth run passes output and the exit code through', async () => {
    const r = await berth(
      d,
      ['run', '--rm', '--rootfs', rootfs, 'cli1', 'sh', '-c', 'echo hi-cli; exit 9'],
      {
        namespace: NS,
      },
    );
    expect(r.stdout).toBe('hi-cli\n');
    expect(r.code).toBe(9);
    // Large output arrives whole, through either shim.
    for (const runtime of ['io.containerd.berth.v2', 'io.containerd.runc.v2']) {
      const big = await berth(
        d,
        ['run', '--rm', '--runtime', runtime, '--rootfs', rootfs, 'big', 'seq', '1', '200000'],
        { namespace: NS },
      );
      expect(big.code).toBe(0);
      const lines = big.stdout.trimEnd().split('\n');
      expect(lines.length, runtime).toBe(200000);
      expect(lines[199999]).toBe('200000');
    }
    const ls = await berth(d, ['c', 'ls', '-q'], { namespace: NS });
    expect(ls.stdout).not.toContain('cli1');
    const piped = await run(
      process.execPath,
      [
        path.resolve('dist/cmd/berth.js'),
        '-a',
        d.address,
        '-n',
        NS,
        'run',
        '--rm',
        '-i',
        '--rootfs',
        rootfs,
        'cli2',
        'sh',
        '-c',
        'tr a-z A-Z',
      ],
      { input: 'shout\n' },
    );
    expect(piped.stdout).toBe('SHOUT\n');
    expect(piped.code).toBe(0);
    expect(
      (await berth(d, ['run', '-d', '--rootfs', rootfs, 'cli3', 'sleep', '300'], { namespace: NS }))
        .code,
    ).toBe(0);
    expect((await berth(d, ['t', 'ls'], { namespace: NS })).stdout).toMatch(/cli3\s+\d+\s+RUNNING/);
    // Detached but attachable: stdin and output through FIFOs left in place.
    expect(
      (
        await berth(
          d,
          [
            'run',
            '-d',
            '-i',
            '--rootfs',
            rootfs,
            'cli4',
            'sh',
            '-c',
            'read x; echo got-$x; exit 6',
          ],
          {
            namespace: NS,
          },
        )
      ).code,
    ).toBe(0);
    const attached = await run(
      process.execPath,
      [path.resolve('dist/cmd/berth.js'), '-a', d.address, '-n', NS, 't', 'attach', 'cli4'],
      { input: 'hello\n' },
    );
    expect(attached.stdout).toBe('got-hello\n');
    expect(attached.code).toBe(6);
    expect((await berth(d, ['t', 'rm', 'cli4'], { namespace: NS })).stdout).toBe('cli4\t6\n');
    const rm = await berth(d, ['t', 'rm', '-f', 'cli3'], { namespace: NS });
    expect(rm.stdout).toBe('cli3\t137\n');
  });
});
