// CriRuntime.recover and the exit watch across a berthd restart, over fakes
// (runtime-over-fakes.ts): what a restarted berthd records when a shim
// answers late or never, when berthd itself let go of the shims, when a shim
// dies, and when records left by an older berthd claim exits that never happened.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errDeadlineExceeded } from '../../core/errors/catalogue.js';
import { CRI_NAMESPACE } from './image-store.js';
import {
  type RuntimeOverFakes,
  containerConfig,
  criRuntimeOverFakes,
  podConfig,
} from './runtime-over-fakes.js';
import { CriStore } from './store.js';

describe('CRI recovery', () => {
  let dir: string;
  let before: RuntimeOverFakes;
  let pod: string;
  let app: string;
  const open: RuntimeOverFakes[] = [];

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-cri-recovery-'));
    before = await criRuntimeOverFakes(dir);
    open.push(before);
    pod = await before.rt.runPodSandbox(podConfig('web'), '');
    app = await before.rt.createContainer(pod, containerConfig('app'), undefined);
    await before.rt.startContainer(app);
  });
  afterEach(async () => {
    for (const f of open.splice(0)) await f.tasks.manager.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const shim = (id: string) => before.tasks.launcher.shim(CRI_NAMESPACE, id)!;

  async function restart(): Promise<RuntimeOverFakes> {
    const after = await before.restart();
    open.push(after);
    return after;
  }

  /** What a restart finds on disk. */
  async function saved(): Promise<CriStore> {
    const s = new CriStore(path.join(dir, 'cri'));
    await s.load();
    return s;
  }

  /** Rewrites records as an older berthd left them. */
  async function rewrite(fn: (s: CriStore) => Promise<void>): Promise<void> {
    await fn(await saved());
  }

  it('keeps pods READY and containers RUNNING when berthd itself lets go of the shims', async () => {
    const after = await restart();
    expect(after.rt.d.store.sandboxes.get(pod).state).toBe('ready');
    expect(after.rt.d.store.containers.get(app)).toMatchObject({ state: 'running' });
    await after.tasks.manager.close(); // stopping again
    await Promise.all(after.rt.exits.values());
    const s = await saved();
    expect(s.sandboxes.get(pod).state).toBe('ready');
    expect(s.containers.get(app)).toMatchObject({ state: 'running', exitCode: 0, finishedAt: 0 });
  });

  it('records the exit a dying shim reports', async () => {
    const after = await restart();
    shim(app).crash();
    await expect.poll(() => after.rt.d.store.containers.get(app).state).toBe('exited');
    expect(after.rt.d.store.containers.get(app).exitCode).toBe(137);
  });

  it('brings back READY and RUNNING where an older berthd recorded a stop as exits', async () => {
    const pid = before.rt.d.store.containers.get(app).pid;
    await rewrite(async (s) => {
      await s.sandboxes.put({ ...s.sandboxes.get(pod), state: 'notready' });
      const c = s.containers.get(app);
      await s.containers.put({ ...c, state: 'exited', exitCode: 255, reason: 'Error', pid: 0 });
    });
    const after = await restart();
    expect(after.rt.d.store.sandboxes.get(pod).state).toBe('ready');
    expect(after.rt.d.store.containers.get(app)).toMatchObject({
      state: 'running',
      exitCode: 0,
      finishedAt: 0,
      reason: '',
      pid,
    });
    // And a real exit afterwards is recorded.
    shim(app).init!.exit(3);
    await expect.poll(() => after.rt.d.store.containers.get(app).state).toBe('exited');
    expect(after.rt.d.store.containers.get(app).exitCode).toBe(3);
  });

  it('leaves a pod stopped on purpose NOTREADY', async () => {
    await before.rt.stopPodSandbox(pod);
    const after = await restart();
    expect(after.rt.d.store.sandboxes.get(pod).state).toBe('notready');
  });

  it('keeps READY and RUNNING while a shim does not answer, and records the exit when it comes', async () => {
    for (const id of [pod, app]) shim(id).failures.set('state', errDeadlineExceeded('ttrpc'));
    const after = await restart();
    expect(shim(app).calls.filter((c) => c === 'state').length).toBeGreaterThan(2); // asked again
    expect(after.rt.d.store.sandboxes.get(pod).state).toBe('ready');
    expect(after.rt.d.store.containers.get(app)).toMatchObject({ state: 'running', exitCode: 0 });
    shim(app).init!.exit(5);
    await expect.poll(() => after.rt.d.store.containers.get(app).state).toBe('exited');
    expect(after.rt.d.store.containers.get(app)).toMatchObject({ exitCode: 5, reason: 'Error' });
  });

  it('reports a container whose task is gone as lost (255), and its pod NOTREADY', async () => {
    await before.tasks.manager.close();
    for (const id of [pod, app]) shim(id).forceDelete(); // gone with their shims
    const after = await restart();
    expect(after.rt.d.store.sandboxes.get(pod).state).toBe('notready');
    expect(after.rt.d.store.containers.get(app)).toMatchObject({
      state: 'exited',
      exitCode: 255,
      reason: 'Unknown',
    });
  });

  it('records an exit that happened while berthd was down', async () => {
    await before.tasks.manager.close();
    shim(app).init!.exit(42);
    const after = await restart();
    expect(after.rt.d.store.containers.get(app)).toMatchObject({ state: 'exited', exitCode: 42 });
    await expect.poll(() => after.tasks.manager.find(CRI_NAMESPACE, app)).toBeUndefined();
  });
});
