// TaskManager over in-memory shims: creating, starting, deleting and
// recovering tasks, and what is left when a shim fails to start, fails the
// create, dies, or was left without a task by a daemon that died.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errInvalidArgument, errUnavailable } from '../../core/errors/catalogue.js';
import { Options } from '../../api/gen/containerd/runc/v1/oci.js';
import { Status } from '../../api/gen/containerd/types/task/task.js';
import { unpackAny } from '../../core/protobuf/typeurl.js';
import { Bundle } from '../../core/runtime/bundle.js';
import { FakeShimLauncher } from '../../core/runtime/fake-shim-launcher.js';
import type { CreateTaskOptions } from '../../core/runtime/task.js';
import {
  FAKE_SHIM_PATH,
  type ManagerOverFakes,
  taskManagerOverFakes,
} from './manager-over-fakes.js';

const NS = 'default';

function options(id: string, over: Partial<CreateTaskOptions> = {}): CreateTaskOptions {
  return {
    namespace: NS,
    id,
    runtime: 'io.containerd.runc.v2',
    spec: Buffer.from(JSON.stringify({ ociVersion: '1.0.2', process: { args: ['sh'] } })),
    rootfs: [],
    stdin: '',
    stdout: '/nonexistent/out',
    stderr: '',
    terminal: false,
    ...over,
  };
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: { code?: string; message: string }) => err,
  );
}

describe('TaskManager', () => {
  let root: string;
  let rt: ManagerOverFakes;
  const managers: ManagerOverFakes[] = [];

  const bundleDir = (id: string) => path.join(root, 'state', NS, id);

  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-task-manager-'));
    rt = taskManagerOverFakes(root);
    managers.push(rt);
  });
  afterEach(async () => {
    for (const m of managers.splice(0)) await m.manager.close();
    await fs.rm(root, { recursive: true, force: true });
  });

  function restart(): ManagerOverFakes {
    const next = rt.restart();
    managers.push(next);
    return next;
  }

  it('creates the task in a started shim, runs it, and deletes it once it stopped', async () => {
    const { task, pid } = await rt.manager.create(options('t1'));
    expect(rt.launcher.started.map((i) => i.id)).toEqual(['t1']);
    const shim = rt.launcher.shim(NS, 't1')!;
    expect(shim.created).toMatchObject({ bundle: bundleDir('t1'), stdout: '/nonexistent/out' });
    // runc's state root is the daemon's own.
    const runc = unpackAny(shim.created!.options, 'containerd.runc.v1.Options', Options);
    expect(runc?.root).toBe(path.join(root, 'runc'));
    expect(await fs.readFile(path.join(bundleDir('t1'), 'address'), 'utf8')).toBe(
      FakeShimLauncher.address(NS, 't1'),
    );
    expect(await fs.readFile(path.join(bundleDir('t1'), 'shim-binary-path'), 'utf8')).toBe(
      FAKE_SHIM_PATH,
    );

    expect(await task.start()).toBe(pid);
    expect((await task.state()).status).toBe(Status.RUNNING);
    expect((await rejection(rt.manager.delete(NS, 't1'))).code).toBe('FailedPrecondition');
    expect(rt.manager.find(NS, 't1')).toBe(task);

    await task.kill(15);
    expect((await task.wait()).exitStatus).toBe(128 + 15);
    expect(await rt.manager.delete(NS, 't1')).toMatchObject({ pid, exitStatus: 143 });
    expect(rt.manager.find(NS, 't1')).toBeUndefined();
    expect(await exists(bundleDir('t1'))).toBe(false);
    expect(shim.calls).toContain('shutdown');
    await expect.poll(() => shim.alive).toBe(false); // no task left: the shim exits
  });

  it('gives two racing deletes of one task the same answer, deleting it once', async () => {
    const { task, pid } = await rt.manager.create(options('t1'));
    await task.start();
    await task.kill(9);
    await task.wait();
    const shim = rt.launcher.shim(NS, 't1')!;
    // An exit watcher and RemoveContainer, say.
    const [a, b] = await Promise.all([rt.manager.delete(NS, 't1'), rt.manager.delete(NS, 't1')]);
    expect(a).toMatchObject({ pid, exitStatus: 137 });
    expect(b).toEqual(a);
    expect(shim.calls.filter((c) => c === 'delete')).toHaveLength(1);
    // Once it is done, the task is gone for everyone.
    expect((await rejection(rt.manager.delete(NS, 't1'))).code).toBe('NotFound');
  });

  it("deletes through the Task as through the manager, and reaches exec'd processes", async () => {
    const { task } = await rt.manager.create(options('t1'));
    await task.start();
    const shim = rt.launcher.shim(NS, 't1')!;
    shim.onExecStart = (p) => p.exit(7);
    const stdio = { stdin: '', stdout: '', stderr: '', terminal: false };
    const exec = await task.exec('e1', { typeUrl: 'x', value: new Uint8Array() }, stdio);
    expect(exec).toMatchObject({ id: 't1', execId: 'e1' });
    const waited = exec.wait();
    await exec.start();
    expect((await waited).exitStatus).toBe(7);
    expect((await task.process('e1').delete()).exitStatus).toBe(7);
    expect(shim.execs.size).toBe(0);

    await task.kill(9);
    await task.wait();
    await task.delete();
    expect(rt.manager.find(NS, 't1')).toBeUndefined();
    expect(await exists(bundleDir('t1'))).toBe(false);
  });

  it('refuses a second task of the same id while the first exists', async () => {
    await rt.manager.create(options('t1'));
    expect((await rejection(rt.manager.create(options('t1')))).code).toBe('AlreadyExists');
    expect(rt.launcher.started).toHaveLength(1);
  });

  it('leaves nothing behind when the shim refuses the create', async () => {
    rt.launcher.onStart = (s) => s.failures.set('create', errInvalidArgument('bad spec'));
    expect((await rejection(rt.manager.create(options('t1')))).code).toBe('InvalidArgument');
    expect(rt.launcher.deleted.map((i) => i.id)).toEqual(['t1']); // `shim delete` ran
    expect(rt.launcher.shim(NS, 't1')!.calls).toContain('shutdown');
    expect(await exists(bundleDir('t1'))).toBe(false);
    expect(rt.manager.find(NS, 't1')).toBeUndefined();

    rt.launcher.onStart = undefined;
    await rt.manager.create(options('t1')); // the id is free again
  });

  it('leaves nothing behind when the shim does not start', async () => {
    rt.launcher.startError = errUnavailable('no such shim');
    expect((await rejection(rt.manager.create(options('t1')))).code).toBe('Unavailable');
    expect(rt.launcher.deleted).toHaveLength(0); // nothing started, nothing to delete
    expect(await exists(bundleDir('t1'))).toBe(false);
  });

  it('reports the exit `shim delete` found when a shim dies, and cleans up after it', async () => {
    const { task, pid } = await rt.manager.create(options('t1'));
    await task.start();
    const waited = task.wait();
    rt.launcher.shim(NS, 't1')!.crash();
    expect(await waited).toMatchObject({ exitStatus: 137 });
    expect(rt.manager.find(NS, 't1')).toBeUndefined();
    expect(await exists(bundleDir('t1'))).toBe(false);
    expect(rt.launcher.deleted.map((i) => i.id)).toEqual(['t1']);
    expect(rt.published.map((e) => e.topic)).toEqual(['/tasks/exit', '/tasks/delete']);
    expect(rt.launcher.shim(NS, 't1')!.init).toBeUndefined(); // `shim delete` killed it
    expect((await rejection(rt.manager.delete(NS, 't1'))).code).toBe('NotFound');
    expect(pid).toBeGreaterThan(0);
  });

  it('lets go of shims on close without reporting exits: the tasks run on', async () => {
    const { task } = await rt.manager.create(options('t1'));
    await task.start();
    const waited = rejection(task.wait());
    await rt.manager.close();
    expect((await waited).code).toBe('Unavailable');
    const shim = rt.launcher.shim(NS, 't1')!;
    expect(shim.alive).toBe(true);
    expect(shim.init?.status).toBe(Status.RUNNING);
    expect(rt.published).toEqual([]);
    expect(rt.launcher.closed).toBe(true);
  });

  it('reconnects to running tasks after a restart and watches them again', async () => {
    for (const id of ['t1', 't2']) await (await rt.manager.create(options(id))).task.start();
    await rt.manager.close();
    const next = restart();
    expect(await next.manager.recover(async () => true)).toEqual({ reconnected: 2, cleaned: 0 });
    const t1 = next.manager.get(NS, 't1');
    expect((await t1.state()).status).toBe(Status.RUNNING);
    const waited = t1.wait();
    rt.launcher.shim(NS, 't1')!.init!.exit(3);
    expect((await waited).exitStatus).toBe(3);
    expect(next.manager.list(NS).map((t) => t.id)).toEqual(['t1', 't2']);
  });

  it('cleans up a shim whose task was never created (berthd died between the two)', async () => {
    const bundle = await Bundle.create(
      { state: path.join(root, 'state'), root: path.join(root, 'root') },
      NS,
      't1',
      undefined,
    );
    await bundle.writeShimBinaryPath(FAKE_SHIM_PATH);
    const started = await rt.launcher.start({
      command: { path: FAKE_SHIM_PATH, command: FAKE_SHIM_PATH, args: [] },
      namespace: NS,
      id: 't1',
      bundlePath: bundle.path,
      address: '',
      ttrpcAddress: '',
      publishBinary: '',
    });
    await bundle.writeAddress(started.address);
    expect(await rt.manager.recover(async () => true)).toEqual({ reconnected: 0, cleaned: 1 });
    expect(rt.manager.find(NS, 't1')).toBeUndefined();
    expect(await exists(bundle.path)).toBe(false);
    expect(rt.launcher.deleted.map((i) => i.id)).toEqual(['t1']);
  });

  it('stops a live shim whose container record is gone, then cleans up', async () => {
    await (await rt.manager.create(options('t1'))).task.start();
    await rt.manager.close();
    const shim = rt.launcher.shim(NS, 't1')!;
    const next = restart();
    expect(await next.manager.recover(async () => false)).toEqual({ reconnected: 0, cleaned: 1 });
    expect(shim.calls).toEqual(expect.arrayContaining(['kill', 'wait', 'delete', 'shutdown']));
    expect(await exists(bundleDir('t1'))).toBe(false);
    expect(next.published.map((e) => e.topic)).toEqual(['/tasks/exit', '/tasks/delete']);
  });

  it('cleans up after a shim that died while berthd was down', async () => {
    await (await rt.manager.create(options('t1'))).task.start();
    await rt.manager.close();
    rt.launcher.shim(NS, 't1')!.crash();
    const next = restart();
    expect(await next.manager.recover(async () => true)).toEqual({ reconnected: 0, cleaned: 1 });
    expect(next.manager.find(NS, 't1')).toBeUndefined();
    expect(await exists(bundleDir('t1'))).toBe(false);
  });
});
