// CriRuntime.recover and the exit watch against fake shims: what a restarted
// berthd records when a shim answers late or never, when a shim connection is
// closed by berthd itself, and when records left by an older berthd claim
// exits that never happened.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errDeadlineExceeded, errNotFound, errUnavailable } from '../../core/errors/catalogue.js';
import { Status } from '../../api/gen/containerd/types/task/task.js';
import type { StateResponse } from '../../api/gen/containerd/task/v2/shim.js';
import { defaultCriConfig } from './config.js';
import { type RuntimeDeps, CriRuntime } from './runtime.js';
import { type ContainerRecord, CriStore, type SandboxRecord } from './store.js';

interface FakeShim {
  state: () => Promise<Partial<StateResponse>>;
  /** Settles the task's Wait. */
  exit: (status: number) => void;
  /** Fails the pending Wait as a closed connection does; `died` says whether the shim died. */
  dropConnection: (died?: { exitStatus: number }) => void;
}

function fakeShim(state: FakeShim['state']): FakeShim & { task: unknown } {
  let settle!: (r: { exitStatus: number; exitedAt: undefined }) => void;
  let fail!: (err: Error) => void;
  const waited = new Promise<{ exitStatus: number; exitedAt: undefined }>((res, rej) => {
    settle = res;
    fail = rej;
  });
  let resolveDeath!: (
    e: { pid: number; exitStatus: number; exitedAt: undefined } | undefined,
  ) => void;
  const death = new Promise((r) => (resolveDeath = r));
  const conn = { closed: false };
  const shim = {
    state,
    exit: (exitStatus: number) => settle({ exitStatus, exitedAt: undefined }),
    dropConnection: (died?: { exitStatus: number }) => {
      conn.closed = true;
      fail(errUnavailable('ttrpc: closed'));
      resolveDeath(died && { pid: 0, exitedAt: undefined, ...died });
    },
    task: {
      conn,
      opts: () => ({}),
      deathExit: () => death,
      task: {
        state: () => shim.state(),
        wait: () => waited,
      },
    },
  };
  return shim;
}

const sandbox = (over: Partial<SandboxRecord>): SandboxRecord => ({
  id: 'sb1',
  name: 'pod_default_uid_0',
  config: {},
  runtimeHandler: '',
  createdAt: 1,
  state: 'ready',
  ips: [],
  dir: '/nonexistent',
  image: 'pause',
  snapshotKey: 'sb1',
  pid: 100,
  networkDown: true,
  ...over,
});

const container = (over: Partial<ContainerRecord>): ContainerRecord => ({
  id: 'c1',
  sandboxId: 'sb1',
  name: 'c1_pod_default_uid_0',
  config: {},
  image: 'busybox',
  imageId: 'sha256:1',
  imageRef: 'busybox',
  snapshotKey: 'c1',
  createdAt: 1,
  startedAt: 2,
  finishedAt: 0,
  exitCode: 0,
  reason: '',
  message: '',
  state: 'running',
  pid: 101,
  logPath: '',
  stopSignal: '',
  uid: 0,
  gid: 0,
  additionalGids: [],
  ...over,
});

const running = (pid: number) => async () => ({ status: Status.RUNNING, pid, stdout: '' });

describe('CRI recovery', () => {
  let dir: string;
  let shims: Map<string, ReturnType<typeof fakeShim>>;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-cri-recovery-'));
    shims = new Map();
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** A runtime over records saved as a previous daemon left them. */
  async function restart(sandboxes: SandboxRecord[], containers: ContainerRecord[]) {
    const saved = new CriStore(dir);
    await saved.load();
    for (const s of sandboxes) await saved.sandboxes.put(s);
    for (const c of containers) await saved.containers.put(c);
    const store = new CriStore(dir);
    const deps = {
      config: defaultCriConfig,
      store,
      manager: {
        find: (_ns: string, id: string) => shims.get(id)?.task,
        delete: async () => {
          throw errNotFound('task');
        },
      },
      containers: { get: async () => Promise.reject(errNotFound('container')) },
      stateDir: dir,
      log: pino({ level: 'silent' }),
    } as unknown as RuntimeDeps;
    const rt = new CriRuntime(deps);
    await rt.recover();
    return { store, watched: () => Promise.all(rt['exits'].values()) };
  }

  it('keeps records when berthd itself closes the shim connections (a clean stop)', async () => {
    shims.set('sb1', fakeShim(running(100)));
    shims.set('c1', fakeShim(running(101)));
    const { store, watched } = await restart([sandbox({})], [container({})]);
    for (const s of shims.values()) s.dropConnection();
    await watched();
    const reloaded = new CriStore(dir);
    await reloaded.load();
    expect(reloaded.sandboxes.get('sb1').state).toBe('ready');
    expect(reloaded.containers.get('c1')).toMatchObject({ state: 'running', exitCode: 0 });
    expect(store.containers.get('c1').finishedAt).toBe(0);
  });

  it('records the exit a dying shim reports', async () => {
    shims.set('sb1', fakeShim(running(100)));
    shims.set('c1', fakeShim(running(101)));
    const { store } = await restart([sandbox({})], [container({})]);
    shims.get('c1')!.dropConnection({ exitStatus: 137 });
    await expect.poll(() => store.containers.get('c1').state).toBe('exited');
    expect(store.containers.get('c1').exitCode).toBe(137);
  });

  it('brings back READY and RUNNING where an older berthd recorded a stop as exits', async () => {
    shims.set('sb1', fakeShim(running(100)));
    shims.set('c1', fakeShim(running(101)));
    const { store } = await restart(
      [sandbox({ state: 'notready' })],
      [container({ state: 'exited', exitCode: 255, reason: 'Error', finishedAt: 9, pid: 0 })],
    );
    expect(store.sandboxes.get('sb1').state).toBe('ready');
    expect(store.containers.get('c1')).toMatchObject({
      state: 'running',
      exitCode: 0,
      finishedAt: 0,
      reason: '',
      pid: 101,
    });
    // And a real exit afterwards is recorded.
    shims.get('c1')!.exit(3);
    await expect.poll(() => store.containers.get('c1').state).toBe('exited');
    expect(store.containers.get('c1').exitCode).toBe(3);
  });

  it('leaves a pod stopped on purpose NOTREADY', async () => {
    shims.set(
      'sb1',
      fakeShim(async () => ({ status: Status.STOPPED, pid: 100, exitStatus: 137 })),
    );
    const { store } = await restart([sandbox({ state: 'notready' })], []);
    expect(store.sandboxes.get('sb1').state).toBe('notready');
  });

  it('keeps READY and RUNNING while a shim does not answer, and records the exit when it comes', async () => {
    let asked = 0;
    const silent = async () => {
      asked++;
      throw errDeadlineExceeded('ttrpc');
    };
    shims.set('sb1', fakeShim(silent));
    shims.set('c1', fakeShim(silent));
    const { store } = await restart([sandbox({})], [container({})]);
    expect(asked).toBeGreaterThan(2); // asked again with longer limits
    expect(store.sandboxes.get('sb1').state).toBe('ready');
    expect(store.containers.get('c1')).toMatchObject({ state: 'running', exitCode: 0 });
    shims.get('c1')!.exit(5);
    await expect.poll(() => store.containers.get('c1').state).toBe('exited');
    expect(store.containers.get('c1')).toMatchObject({ exitCode: 5, reason: 'Error' });
  });

  it('reports a container whose task is gone as lost (255), and its pod NOTREADY', async () => {
    const { store } = await restart([sandbox({})], [container({})]);
    expect(store.sandboxes.get('sb1').state).toBe('notready');
    expect(store.containers.get('c1')).toMatchObject({
      state: 'exited',
      exitCode: 255,
      reason: 'Unknown',
    });
  });

  it('records an exit that happened while berthd was down', async () => {
    shims.set('sb1', fakeShim(running(100)));
    shims.set(
      'c1',
      fakeShim(async () => ({ status: Status.STOPPED, pid: 101, exitStatus: 42, stdout: '' })),
    );
    const { store } = await restart([sandbox({})], [container({})]);
    expect(store.containers.get('c1')).toMatchObject({ state: 'exited', exitCode: 42 });
  });
});
