// Spare shims: berthd keeps one berth-shim started ahead of need and hands the
// next task create to it. Real berthd, real berth-shim, real runc containers.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import { generateDefaultSpec, withEnv, withProcessArgs, withRootfs } from '../core/oci/index.js';
import { busyboxAvailable, makeBusyboxRootfs } from './fixtures/busybox-rootfs.js';
import { repoRoot, requireBuild, startDaemon, type TestDaemon } from './helpers/daemon.js';
import {
  alive,
  killLeftoverShims,
  removeAllTasks,
  taskStateDir,
  waitFor,
} from './helpers/tasks.js';
import { commandFor } from '../core/runtime/binary.js';
import { type ShimInvocation, runShimStart } from '../core/runtime/shim-process.js';
import { ShimSpares } from '../core/runtime/shim-spares.js';

const canRun =
  process.getuid?.() === 0 &&
  busyboxAvailable() &&
  ['/usr/sbin/runc', '/usr/bin/runc'].some((p) => fs.existsSync(p));

const NS = `spares${process.pid}`;
const SHIM = path.join(repoRoot, 'dist', 'berth-shim.mjs');

/** Live children of `parent` started as spares (the variable is in their initial environment). */
function spareChildren(parent: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(
        fs.readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.split(' ')[1],
      );
      if (ppid !== parent || !alive(Number(entry))) continue;
      const env = fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (env.includes('BERTH_SHIM_SPARE=1')) out.push(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** Pids recorded in the daemon's bundles: shims serving tasks. */
function servingShims(d: TestDaemon): number[] {
  const root = taskStateDir(d.state);
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root).flatMap((ns) =>
    fs.readdirSync(path.join(root, ns)).flatMap((id) => {
      try {
        return [Number(fs.readFileSync(path.join(root, ns, id, 'shim.pid'), 'utf8'))];
      } catch {
        return [];
      }
    }),
  );
}

const idleSpares = (d: TestDaemon) => {
  const serving = new Set(servingShims(d));
  return spareChildren(d.proc.pid!).filter((p) => !serving.has(p));
};

describe.skipIf(!canRun)('spare shims', () => {
  let tmp: string;
  let rootfs: string;
  const daemons: TestDaemon[] = [];

  const newDaemon = async (config?: string) => {
    const d = await startDaemon({ config });
    daemons.push(d);
    return { d, client: new Client({ address: d.address, namespace: NS }) };
  };

  const sleeper = async (client: Client, id: string, group?: string) => {
    const spec = generateDefaultSpec({ id, namespace: NS }, [
      withRootfs(rootfs),
      withEnv(['PATH=/bin']),
      withProcessArgs('sleep', '300'),
    ]) as unknown as Record<string, unknown>;
    if (group) spec.annotations = { 'io.containerd.runc.v2.group': group };
    const c = await client.newContainer({ id, spec, runtime: 'io.containerd.berth.v2' });
    const t = await c.newTask();
    await t.start();
    return t;
  };

  beforeAll(() => {
    requireBuild();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-spares-'));
    rootfs = makeBusyboxRootfs(path.join(tmp, 'rootfs'));
  });

  afterEach(async () => {
    for (const d of daemons.splice(0)) {
      if (d.proc.exitCode === null && d.proc.signalCode === null) {
        const client = new Client({ address: d.address, namespace: NS });
        await removeAllTasks(client).catch(() => {});
        client.close();
      }
      killLeftoverShims(d.state);
      await d.dispose();
    }
  });

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a spare with nothing assigned exits when its input ends', async () => {
    const p = spawn(process.execPath, [SHIM, 'start'], {
      env: { ...process.env, BERTH_SHIM_SPARE: '1', BERTH_SHIM_INLINE_START: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    p.stdin.end();
    expect(await exited).toBe(0);
  });

  it('a spare refuses a malformed assignment and says why', async () => {
    const p = spawn(process.execPath, [SHIM, 'start'], {
      env: { ...process.env, BERTH_SHIM_SPARE: '1', BERTH_SHIM_INLINE_START: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((r) => p.once('close', (code) => r(code)));
    p.stdin.end(JSON.stringify({ args: ['start'], env: {}, cwd: 'relative' }));
    expect(await exited).toBe(2);
    expect(stderr).toMatch(/cwd must be an absolute path/);
  });

  it('berthd hands the next task to its spare and launches another', async () => {
    const { d, client } = await newDaemon();
    try {
      expect(idleSpares(d)).toEqual([]); // none until a Berth shim is first needed
      await sleeper(client, 'first');
      const spare = await waitFor(async () => idleSpares(d)[0], 10_000, 'a spare shim');

      const t = await sleeper(client, 'second');
      const bundle = path.join(taskStateDir(d.state), NS, 'second');
      expect(Number(fs.readFileSync(path.join(bundle, 'shim.pid'), 'utf8'))).toBe(spare);
      // The spare became that task's shim: it serves from the bundle with stdio let go.
      expect(fs.readlinkSync(`/proc/${spare}/cwd`)).toBe(bundle);
      expect(fs.readlinkSync(`/proc/${spare}/fd/1`)).toBe('/dev/null');
      expect(t.pid).toBeGreaterThan(0);

      const next = await waitFor(async () => idleSpares(d)[0], 10_000, 'a new spare shim');
      expect(next).not.toBe(spare);
    } finally {
      client.close();
    }
  });

  it('a spare killed before use does not fail the next create', async () => {
    const { d, client } = await newDaemon();
    try {
      await sleeper(client, 'first');
      const spare = await waitFor(async () => idleSpares(d)[0], 10_000, 'a spare shim');
      process.kill(spare, 'SIGKILL');
      await sleeper(client, 'second'); // whether or not the daemon saw it die yet
      const pid = Number(
        fs.readFileSync(path.join(taskStateDir(d.state), NS, 'second', 'shim.pid'), 'utf8'),
      );
      expect(pid).not.toBe(spare);
      expect(alive(pid)).toBe(true);
    } finally {
      client.close();
    }
  });

  it("a group's later container goes straight to the group's shim, leaving the spare idle", async () => {
    const { d, client } = await newDaemon();
    try {
      await sleeper(client, 'lead', 'pod1');
      const spare = await waitFor(async () => idleSpares(d)[0], 10_000, 'a spare shim');
      await sleeper(client, 'member', 'pod1');
      const root = path.join(taskStateDir(d.state), NS);
      const address = (id: string) => fs.readFileSync(path.join(root, id, 'address'), 'utf8');
      expect(address('member')).toBe(address('lead'));
      // No `start` ran for it: the spare was not used up finding the group's shim.
      expect(idleSpares(d)).toEqual([spare]);
    } finally {
      client.close();
    }
  });

  it('idle spares go with the daemon, on SIGTERM and on SIGKILL; serving shims stay', async () => {
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const { d, client } = await newDaemon();
      await sleeper(client, `kept-${signal.toLowerCase()}`);
      client.close();
      const spares = await waitFor(
        async () => (idleSpares(d).length ? idleSpares(d) : undefined),
        10_000,
        'a spare shim',
      );
      const serving = servingShims(d);
      await d.stop(signal);
      await waitFor(
        async () => spares.every((p) => !alive(p)),
        10_000,
        `spares gone after ${signal}`,
      );
      expect(serving.every(alive)).toBe(true);
      await d.restart(); // recovers the serving shim; afterEach removes its task
    }
  });

  it('shim_spares = 0 keeps none, and a bad value is refused with its name', async () => {
    const table = '[plugins."io.berth.runtime.v2.task"]';
    const { d, client } = await newDaemon(`${table}\nshim_spares = 0\n`);
    try {
      await sleeper(client, 'only');
      await new Promise((r) => setTimeout(r, 500));
      expect(spareChildren(d.proc.pid!)).toEqual([]);
    } finally {
      client.close();
    }
    const bad = await newDaemon(`${table}\nshim_spares = 2.5\n`);
    bad.client.close();
    await waitFor(
      async () => /shim_spares must be an integer/.test(bad.d.logs()),
      5000,
      'the error',
    );
  });

  describe('starting a shim from a spare, without a daemon', () => {
    const command = commandFor(SHIM);
    let seq = 0;
    const invocation = (namespace = NS): ShimInvocation => {
      const id = `direct-${process.pid}-${++seq}`;
      const bundlePath = path.join(tmp, id);
      fs.mkdirSync(bundlePath, { recursive: true });
      fs.writeFileSync(path.join(bundlePath, 'config.json'), '{}');
      return {
        command,
        namespace,
        id,
        bundlePath,
        address: path.join(tmp, 'no-daemon.sock'),
        ttrpcAddress: path.join(tmp, 'no-daemon.sock.ttrpc'),
        publishBinary: '/bin/false',
      };
    };

    it('an inline start that fails reports its own error, not a missing address', async () => {
      await expect(
        runShimStart(invocation(''), { timeoutMs: 10_000, inline: true }),
      ).rejects.toThrow(/-namespace is required/);
    });

    it('a spare that died after it was taken is replaced by a fresh start', async () => {
      const spares = new ShimSpares({ count: 1, env: process.env });
      try {
        spares.refill(command);
        await new Promise((r) => setTimeout(r, 500));
        const spare = spares.take(command);
        expect(spare).toBeDefined();
        // Fully gone, 'close' emitted, before it is used: the order a loaded
        // machine produces, in which a listener added afterwards never fires.
        const closed = new Promise((r) => spare!.once('close', r));
        spare!.stdout.resume();
        spare!.stderr.resume();
        spare!.kill('SIGKILL');
        await closed;
        const inv = invocation();
        const started = await runShimStart(inv, { timeoutMs: 10_000, inline: true, spare });
        expect(started.address).toMatch(/^unix:\/\//);
        const pid = Number(fs.readFileSync(path.join(inv.bundlePath, 'shim.pid'), 'utf8'));
        expect(pid).not.toBe(spare!.pid);
        expect(alive(pid)).toBe(true);
        process.kill(pid, 'SIGTERM'); // the server unlinks its socket and exits
        await waitFor(async () => !alive(pid), 10_000, 'the shim server to exit');
      } finally {
        await spares.close();
      }
    });
  });
});
