// A CriRuntime over fakes, for unit tests of the CRI's pod and container
// logic: tasks from a TaskManager over in-memory shims, and in-memory
// container records, snapshots (plain directories), images, CNI and network
// namespaces (plain files), all under one temporary directory. Nothing needs
// root and no process is started.

import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { errNotFound } from '../../core/errors/catalogue.js';
import type { ContainerStore } from '../../core/metadata/containers.js';
import { ContainerConfig, PodSandboxConfig } from '../../api/gen/cri/runtime/v1/api.js';
import type { NamespacedSnapshotter } from '../snapshots/namespaced.js';
import { type ManagerOverFakes, taskManagerOverFakes } from '../tasks/manager-over-fakes.js';
import type { CniPodArgs, CniResult, CniRuntime } from './cni.js';
import { defaultCriConfig } from './config.js';
import type { CriImage } from './image-index.js';
import type { CriImageStore } from './image-store.js';
import type { PinOptions } from './pod-namespaces.js';
import { CriRuntime, type RuntimeDeps } from './runtime.js';
import { CriStore } from './store.js';

export const PAUSE_IMAGE = 'registry.test/pause:3.10';
export const APP_IMAGE = 'registry.test/app:1';

/** What the fakes were asked to do, for assertions. */
export interface FakeCalls {
  cniSetup: CniPodArgs[];
  cniTeardown: CniPodArgs[];
  podPins: PinOptions[];
}

export interface RuntimeOverFakes {
  rt: CriRuntime;
  tasks: ManagerOverFakes;
  calls: FakeCalls;
  /** Metadata container records by id (namespace k8s.io). */
  records: Map<string, { spec?: { value: Uint8Array } }>;
  /** Prepared snapshots by key. */
  snapshots: Set<string>;
  /** berthd restarted: a new manager reconnects to the same shims, a new runtime recovers. */
  restart(): Promise<RuntimeOverFakes>;
}

function image(id: string, name: string, config: Record<string, unknown>): CriImage {
  return { id, names: [name], config, users: new Map() } as unknown as CriImage;
}

const IMAGES = new Map<string, CriImage>([
  [PAUSE_IMAGE, image('sha256:pause', PAUSE_IMAGE, { Entrypoint: ['/pause'] })],
  [APP_IMAGE, image('sha256:app', APP_IMAGE, { Cmd: ['sh'], Env: ['PATH=/bin'] })],
]);

export async function criRuntimeOverFakes(
  dir: string,
  tasks = taskManagerOverFakes(path.join(dir, 'tasks')),
  shared?: Pick<RuntimeOverFakes, 'records' | 'snapshots' | 'calls'>,
): Promise<RuntimeOverFakes> {
  const records = shared?.records ?? new Map<string, { spec?: { value: Uint8Array } }>();
  const snapshots = shared?.snapshots ?? new Set<string>();
  const calls = shared?.calls ?? { cniSetup: [], cniTeardown: [], podPins: [] };
  const snapshotDir = (key: string) => path.join(dir, 'snapshots', key);

  const containers = {
    create: async (_ns: string, c: { id: string; spec?: { value: Uint8Array } }) =>
      void records.set(c.id, c),
    get: async (_ns: string, id: string) => {
      const c = records.get(id);
      if (!c) throw errNotFound(`container ${id}`);
      return c;
    },
    update: async (_ns: string, c: { id: string; spec: unknown }) => {
      const have = records.get(c.id);
      if (!have) throw errNotFound(`container ${c.id}`);
      Object.assign(have, { spec: c.spec });
    },
    delete: async (_ns: string, id: string) => {
      if (!records.delete(id)) throw errNotFound(`container ${id}`);
    },
    deleteIn: async (_tx: unknown, _ns: string, id: string) => records.delete(id),
  };
  const mountsOf = (key: string) => [
    { type: 'bind', source: snapshotDir(key), options: ['rbind'] },
  ];
  const snapshotter = {
    prepare: async (_ns: string, key: string) => {
      await fs.mkdir(snapshotDir(key), { recursive: true });
      snapshots.add(key);
      return mountsOf(key);
    },
    mounts: async (_ns: string, key: string) => {
      if (!snapshots.has(key)) throw errNotFound(`snapshot ${key}`);
      return mountsOf(key);
    },
    remove: async (
      _ns: string,
      key: string,
      opts?: { alongside?: (tx: unknown) => Promise<unknown> },
    ) => {
      if (!snapshots.has(key)) throw errNotFound(`snapshot ${key}`);
      await opts?.alongside?.(undefined); // the fake containers need no transaction
      snapshots.delete(key);
    },
  };
  const images = {
    find: (ref: string) => IMAGES.get(ref),
    ensureUnpacked: async (img: CriImage) => `chain-of-${img.id}`,
    withLease: <T>(fn: (lease: string) => Promise<T>) => fn('test-lease'),
    pull: async (ref: string) => {
      throw errNotFound(`image ${ref} in the test registry`);
    },
  };
  const cni = {
    setup: async (args: CniPodArgs) => {
      calls.cniSetup.push(args);
      const result = { cniVersion: '1.0.0', ips: [{ address: '10.88.0.5/16' }] };
      return { result: result as unknown as CniResult, network: 'test' };
    },
    teardown: async (args: CniPodArgs) => void calls.cniTeardown.push(args),
  };
  const deps: RuntimeDeps = {
    config: { ...defaultCriConfig, sandbox_image: PAUSE_IMAGE },
    store: new CriStore(path.join(dir, 'cri')),
    tasks: tasks.manager,
    containers: containers as unknown as ContainerStore,
    snapshotter: snapshotter as unknown as NamespacedSnapshotter,
    images: images as unknown as CriImageStore,
    cni: cni as unknown as CniRuntime,
    stateDir: path.join(dir, 'cri-state'),
    log: pino({ level: 'silent' }),
    netns: {
      create: async (nsDir, id) => {
        await fs.mkdir(nsDir, { recursive: true });
        const file = path.join(nsDir, id);
        await fs.writeFile(file, '', { flag: 'wx' });
        return file;
      },
      remove: (file) => fs.rm(file, { force: true }),
    },
    // Plain files stand for the pinned namespaces; the options are kept for the tests.
    podNamespaces: {
      pin: async (o) => {
        calls.podPins.push(o);
        const nsDir = path.join(o.dir, 'ns');
        await fs.mkdir(nsDir, { recursive: true });
        const pins = {
          ipc: o.hostIpc ? undefined : path.join(nsDir, 'ipc'),
          uts: o.hostNetwork ? undefined : path.join(nsDir, 'uts'),
        };
        for (const f of [pins.ipc, pins.uts]) if (f) await fs.writeFile(f, '', { flag: 'wx' });
        return pins;
      },
      unpin: async (sb) => {
        for (const f of [sb.pinnedNs?.ipc, sb.pinnedNs?.uts])
          if (f) await fs.rm(f, { force: true });
      },
      inPlace: async (sb) =>
        [sb.netnsPath, sb.pinnedNs?.ipc, sb.pinnedNs?.uts].every((f) => !f || existsSync(f)),
    },
  };
  const rt = new CriRuntime(deps);
  await rt.recover();
  return {
    rt,
    tasks,
    calls,
    records,
    snapshots,
    async restart() {
      await tasks.manager.close();
      const next = tasks.restart();
      await next.manager.recover(async (_ns, id) => records.has(id));
      return criRuntimeOverFakes(dir, next, { records, snapshots, calls });
    },
  };
}

/**
 * A pod in the host's IPC namespace, and its network too unless `network` (then
 * CNI and a netns). Its containers share a PID namespace (so it has a pause)
 * unless `pid` is CONTAINER.
 */
export function podConfig(
  name: string,
  network = false,
  pid: 'POD' | 'CONTAINER' = 'POD',
  ipc: 'POD' | 'NODE' = 'NODE',
): PodSandboxConfig {
  return PodSandboxConfig.fromJSON({
    metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    linux: {
      securityContext: {
        namespaceOptions: { network: network ? 'POD' : 'NODE', ipc, pid },
      },
    },
  });
}

/** A container of the app image. */
export function containerConfig(name: string, over: Record<string, unknown> = {}): ContainerConfig {
  return ContainerConfig.fromJSON({ metadata: { name }, image: { image: APP_IMAGE }, ...over });
}
