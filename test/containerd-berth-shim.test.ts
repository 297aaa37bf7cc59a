// Debian's containerd runs containers through berth-shim: our ttrpc server and
// shim protocol against the real daemon (`ctr run --runtime io.containerd.berth.v2`).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxAvailable, makeBusyboxRootfs } from './fixtures/busybox-rootfs.js';
import { haveContainerd, startContainerd, type TestContainerd } from './helpers/containerd.js';
import { repoRoot } from './helpers/daemon.js';

const shimBundle = path.join(repoRoot, 'dist', 'berth-shim.mjs');
const ready = haveContainerd && busyboxAvailable() && existsSync('/usr/sbin/runc');

describe.skipIf(!ready)('containerd with berth-shim', () => {
  let c: TestContainerd;
  let tmp: string;
  let rootfs: string;
  const ns = `bshim${process.pid}`;
  const ctr = (...args: string[]) => c.ctr('-n', ns, ...args);
  const run = (id: string, ...cmd: string[]) =>
    ctr(
      'run',
      '--rm',
      '--runtime',
      'io.containerd.berth.v2',
      '--env',
      'PATH=/bin',
      '--rootfs',
      rootfs,
      id,
      ...cmd,
    );

  beforeAll(async () => {
    if (!existsSync(shimBundle))
      throw new Error('dist/berth-shim.mjs is missing: run `npm run build`');
    tmp = await mkdtemp(path.join(os.tmpdir(), 'bshim-'));
    rootfs = makeBusyboxRootfs(path.join(tmp, 'rootfs'));
    c = await startContainerd({ extraPath: [path.join(repoRoot, 'bin')] });
  });

  afterAll(async () => {
    if (c) {
      const ids = (await ctr('containers', 'ls', '-q')).stdout.split('\n').filter(Boolean);
      for (const id of ids) {
        await ctr('task', 'kill', '-s', 'SIGKILL', id);
        await ctr('task', 'rm', '-f', id);
        await ctr('containers', 'rm', id);
      }
      // Shims we caused to start, by the PID each wrote into its bundle.
      const bundles = path.join(c.dir, 'state', 'io.containerd.runtime.v2.task', ns);
      for (const id of existsSync(bundles) ? readdirSync(bundles) : []) {
        const pidFile = path.join(bundles, id, 'shim.pid');
        if (existsSync(pidFile)) {
          try {
            process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      }
      await c.dispose();
    }
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('runs a container to completion with its output and exit code', async () => {
    const r = await run('out1', 'sh', '-c', 'echo hello from berth-shim; exit 3');
    expect(r.stdout, r.stderr).toContain('hello from berth-shim');
    expect(r.code).toBe(3);
  });

  it('kills, lists and deletes a detached container', async () => {
    const started = await ctr(
      'run',
      '-d',
      '--runtime',
      'io.containerd.berth.v2',
      '--env',
      'PATH=/bin',
      '--rootfs',
      rootfs,
      'sleeper',
      'sleep',
      '300',
    );
    expect(started.code, started.stderr).toBe(0);
    const ls = await ctr('task', 'ls');
    expect(ls.stdout).toMatch(/sleeper\s+\d+\s+RUNNING/);
    const exec = await ctr(
      'task',
      'exec',
      '--exec-id',
      'e1',
      'sleeper',
      'sh',
      '-c',
      'echo in-exec; exit 4',
    );
    expect(exec.stdout).toContain('in-exec');
    expect(exec.code).toBe(4);
    const ps = await ctr('task', 'ps', 'sleeper');
    // The init process, as `task ls` reports it, among the shim's Pids answer.
    const initPid = /sleeper\s+(\d+)\s+RUNNING/.exec((await ctr('task', 'ls')).stdout)?.[1];
    expect(initPid).toBeDefined();
    expect(ps.stdout).toMatch(new RegExp(`^${initPid}\\s`, 'm'));
    expect((await ctr('task', 'kill', '-s', 'SIGKILL', 'sleeper')).code).toBe(0);
    const deadline = Date.now() + 10_000;
    let stopped = '';
    while (Date.now() < deadline) {
      stopped = (await ctr('task', 'ls')).stdout;
      if (/sleeper\s+\d+\s+STOPPED/.test(stopped)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(stopped).toMatch(/sleeper\s+\d+\s+STOPPED/);
    const rmTask = await ctr('task', 'rm', 'sleeper');
    expect(rmTask.code, rmTask.stderr).toBe(0);
    expect((await ctr('containers', 'rm', 'sleeper')).code).toBe(0);
    expect((await ctr('task', 'ls', '-q')).stdout.trim()).toBe('');
  });
});
