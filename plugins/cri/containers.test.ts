// Containers over fakes (runtime-over-fakes.ts): create, start, exit, stop
// with its grace period, a start that fails, ExecSync and resource updates,
// all through the core/runtime Task the task manager hands out.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errFailedPrecondition } from '../../core/errors/catalogue.js';
import { Status } from '../../api/gen/containerd/types/task/task.js';
import { LinuxContainerResources } from '../../api/gen/cri/runtime/v1/api.js';
import { CRI_NAMESPACE } from './image-store.js';
import type { ContainerEvent } from './runtime.js';
import { CriRuntimeService } from './runtime-service.js';
import type { CriStats } from './stats.js';
import {
  type RuntimeOverFakes,
  containerConfig,
  criRuntimeOverFakes,
  podConfig,
} from './runtime-over-fakes.js';

describe('CRI containers', () => {
  let dir: string;
  let f: RuntimeOverFakes;
  let pod: string;
  let events: ContainerEvent[];

  beforeEach(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-cri-containers-'));
    f = await criRuntimeOverFakes(dir);
    pod = await f.rt.runPodSandbox(podConfig('web'), '');
    events = [];
    f.rt.events.on('event', (e: ContainerEvent) => events.push(e));
  });
  afterEach(async () => {
    await f.tasks.manager.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  const shim = (id: string) => f.tasks.launcher.shim(CRI_NAMESPACE, id)!;

  async function running(name = 'app'): Promise<string> {
    const id = await f.rt.createContainer(pod, containerConfig(name), undefined);
    await f.rt.startContainer(id);
    return id;
  }

  it('creates and starts a container, records its exit and deletes its task', async () => {
    const id = await f.rt.createContainer(pod, containerConfig('app'), undefined);
    expect(f.rt.d.store.containers.get(id)).toMatchObject({ state: 'created', pid: 0 });
    expect(f.tasks.manager.find(CRI_NAMESPACE, id)).toBeUndefined();

    await f.rt.startContainer(id);
    const rec = f.rt.d.store.containers.get(id);
    expect(rec).toMatchObject({ state: 'running', pid: shim(id).init!.pid });
    expect(shim(id).init!.status).toBe(Status.RUNNING);
    expect(shim(id).created!.stdout).toMatch(/fifo/); // the container's output is read
    await expect(f.rt.startContainer(id)).rejects.toMatchObject({ code: 'FailedPrecondition' });

    shim(id).init!.exit(3);
    await expect.poll(() => f.rt.d.store.containers.get(id).state).toBe('exited');
    expect(f.rt.d.store.containers.get(id)).toMatchObject({ exitCode: 3, reason: 'Error', pid: 0 });
    await expect.poll(() => f.tasks.manager.find(CRI_NAMESPACE, id)).toBeUndefined();
    expect(events.map((e) => e.kind)).toEqual(['created', 'started', 'stopped']);

    await f.rt.removeContainer(id);
    expect(f.rt.d.store.containers.list()).toEqual([]);
    expect(f.records.has(id)).toBe(false);
    expect(f.snapshots.has(id)).toBe(false);
  });

  it('removes the container record with its snapshot, and alone when the snapshot is gone', async () => {
    const a = await f.rt.createContainer(pod, containerConfig('a'), undefined);
    const b = await f.rt.createContainer(pod, containerConfig('b'), undefined);
    await f.rt.removeContainer(a);
    expect([f.records.has(a), f.snapshots.has(a)]).toEqual([false, false]);

    f.snapshots.delete(b); // removed behind the CRI's back
    await f.rt.removeContainer(b);
    expect(f.records.has(b)).toBe(false);
    expect(f.rt.d.store.containers.list()).toEqual([]);
  });

  it('stops with the stop signal, and with SIGKILL once the grace period is over', async () => {
    const polite = await running('polite');
    await f.rt.stopContainer(polite, 30);
    expect(f.rt.d.store.containers.get(polite).exitCode).toBe(128 + 15);

    const stubborn = await running('stubborn');
    shim(stubborn).ignoredSignals.add(15);
    await f.rt.stopContainer(stubborn, 1);
    expect(f.rt.d.store.containers.get(stubborn).exitCode).toBe(128 + 9);
    expect(shim(stubborn).calls.filter((c) => c === 'kill')).toHaveLength(2);
  });

  it('records a start that fails as StartError and leaves no task', async () => {
    const id = await f.rt.createContainer(pod, containerConfig('app'), undefined);
    f.tasks.launcher.onStart = (s) => s.failures.set('start', errFailedPrecondition('exec failed'));
    await expect(f.rt.startContainer(id)).rejects.toMatchObject({ code: 'FailedPrecondition' });
    expect(f.rt.d.store.containers.get(id)).toMatchObject({
      state: 'exited',
      reason: 'StartError',
      exitCode: 128,
    });
    expect(f.tasks.manager.find(CRI_NAMESPACE, id)).toBeUndefined();
  });

  it("runs ExecSync in the container's task and returns its output and exit", async () => {
    const id = await running();
    shim(id).onExecStart = (p) => {
      fs.writeFileSync(p.stdio.stdout, 'hello\n');
      p.exit(4);
    };
    const r = await f.rt.execSync(id, ['echo', 'hello'], 0);
    expect(r).toMatchObject({ exitCode: 4 });
    expect(r.stdout.toString()).toBe('hello\n');
    expect(shim(id).execs.size).toBe(0); // deleted from the shim after
  });

  it('kills an ExecSync command that outlives its timeout', async () => {
    const id = await running();
    let killed: number | undefined;
    shim(id).onExecStart = (p) => void p.whenExited().then(() => (killed = p.exitStatus));
    await expect(f.rt.execSync(id, ['sleep', '1000'], 1)).rejects.toMatchObject({
      code: 'DeadlineExceeded',
    });
    expect(killed).toBe(137);
  });

  it('applies new resources to the running task and to the stored spec', async () => {
    const id = await running();
    const resources = LinuxContainerResources.fromJSON({ memoryLimitInBytes: 64 << 20 });
    await f.rt.updateContainerResources(id, resources);
    const sent = JSON.parse(Buffer.from(shim(id).updated!.value).toString('utf8'));
    expect(sent.memory.limit).toBe(64 << 20);
    const spec = JSON.parse(Buffer.from(f.records.get(id)!.spec!.value).toString('utf8'));
    expect(spec.linux.resources.memory.limit).toBe(64 << 20);
  });

  it('answers ContainerStatus with the resources an update stored', async () => {
    const svc = new CriRuntimeService(f.rt, {} as CriStats);
    const id = await running();
    const status = async () =>
      (await svc.containerStatus({ containerId: id, verbose: false })).status!;
    const before = await status();
    expect(before.metadata?.name).toBe('app');
    expect(before.resources).toBeUndefined();
    const resources = LinuxContainerResources.fromJSON({ memoryLimitInBytes: 64 << 20 });
    await f.rt.updateContainerResources(id, resources);
    const after = await status();
    expect(after.resources?.linux?.memoryLimitInBytes).toBe(BigInt(64 << 20));
    expect(after.metadata?.name).toBe('app');
  });
});
