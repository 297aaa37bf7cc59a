// What the CRI runtime's parts share: its dependencies, the name index, the
// per-id lock, the container events, the open logs and exit watches, and the
// small helpers that sandboxes and containers both use.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import type { Logger } from 'pino';
import { errNotFound } from '../../core/errors/catalogue.js';
import { KeyedMutex } from '../../core/metadata/keyed-mutex.js';
import type { TaskRuntime } from '../../core/runtime/task.js';
import type { ContainerStore } from '../../core/metadata/containers.js';
import type { Spec } from '../../core/oci/index.js';
import { OCI_SPEC_TYPE_URL, packAny, packJson } from '../../core/protobuf/typeurl.js';
import { Options as RuncOptions } from '../../api/gen/containerd/runc/v1/oci.js';
import type { Mount as PbMount } from '../../api/gen/containerd/types/mount.js';
import { PodSandboxConfig } from '../../api/gen/cri/runtime/v1/api.js';
import type { NamespacedSnapshotter } from '../snapshots/namespaced.js';
import type { CniRuntime } from './cni.js';
import type { CriConfig } from './config.js';
import { ContainerLogs } from './container-logs.js';
import { type CriImageStore, CRI_NAMESPACE } from './image-store.js';
import { NameIndex } from './names.js';
import type { CriStore, SandboxRecord } from './store.js';
import type { PodNamespacePins } from './pod-namespaces.js';

export const SNAPSHOTTER = 'overlayfs';
export const KIND_LABEL = 'io.cri-containerd.kind';

export type ContainerEventKind = 'created' | 'started' | 'stopped' | 'deleted';

/** What `events` emits as 'event'. */
export interface ContainerEvent {
  kind: ContainerEventKind;
  id: string;
  /** The container's pod, also once the container record is gone. */
  sandboxId: string | undefined;
  at: number;
}

export interface RuntimeDeps {
  config: CriConfig;
  store: CriStore;
  /** The task manager in berthd; the CRI uses its tasks like any client. */
  tasks: TaskRuntime;
  containers: ContainerStore;
  snapshotter: NamespacedSnapshotter;
  images: CriImageStore;
  cni: CniRuntime;
  /** Plugin state directory: netns pins, pod files, FIFOs. */
  stateDir: string;
  log: Logger;
  /** How pods' network namespaces are pinned and removed; netns.ts unless given (tests). */
  netns?: NetnsPins;
  /** How infra-less pods' IPC and UTS namespaces are pinned; pod-namespaces.ts unless given (tests). */
  podNamespaces?: PodNamespacePins;
}

export interface NetnsPins {
  /** Pins a new namespace at `<dir>/<id>`; returns its path. */
  create(dir: string, id: string): Promise<string>;
  remove(file: string): Promise<void>;
}

export function nowNs(): number {
  return Date.now() * 1e6;
}

export function newId(): string {
  return randomBytes(32).toString('hex');
}

export function toPbMounts(ms: { type: string; source: string; options: string[] }[]): PbMount[] {
  return ms.map((m) => ({ type: m.type, source: m.source, target: '', options: m.options }));
}

export class CriContext {
  /** 'event' (ContainerEvent) and 'stdio' (attach-hubs.ts ContainerStdio). */
  readonly events = new EventEmitter();
  readonly names = new NameIndex();
  /** Per id, so a stop and a remove of the same object do not interleave. */
  readonly lock = new KeyedMutex();
  readonly logs: ContainerLogs;
  /** Resolves when the task of the id has exited and its record is updated. */
  readonly exits = new Map<string, Promise<void>>();
  /** The sandbox image pull in flight, shared by concurrent RunPodSandbox calls. */
  sandboxPull: Promise<unknown> | undefined;

  constructor(readonly d: RuntimeDeps) {
    this.events.setMaxListeners(0);
    this.logs = new ContainerLogs(d.config.max_container_log_line_size);
  }

  get fifoRoot(): string {
    return path.join(this.d.stateDir, 'fifo');
  }

  emit(
    kind: ContainerEventKind,
    id: string,
    sandboxId = this.d.store.containers.find(id)?.sandboxId,
  ): void {
    this.events.emit('event', { kind, id, sandboxId, at: nowNs() } satisfies ContainerEvent);
  }

  sandboxConfig(rec: SandboxRecord): PodSandboxConfig {
    return PodSandboxConfig.fromJSON(rec.config);
  }

  async specOf(id: string): Promise<Spec> {
    const c = await this.d.containers.get(CRI_NAMESPACE, id);
    if (!c.spec) throw errNotFound(`spec of ${id}`);
    return JSON.parse(Buffer.from(c.spec.value).toString('utf8')) as Spec;
  }

  /** The metadata record (namespace k8s.io) the task manager and `ctr` see. */
  async createDbRecord(
    id: string,
    runtime: string,
    spec: Spec,
    image: string,
    kind: 'sandbox' | 'container',
    snapshotKey: string,
    sandboxId?: string,
  ): Promise<void> {
    await this.d.containers.create(CRI_NAMESPACE, {
      id,
      runtime: { name: runtime },
      spec: packJson(OCI_SPEC_TYPE_URL, spec),
      image,
      labels: { [KIND_LABEL]: kind },
      snapshotter: SNAPSHOTTER,
      snapshotKey,
      sandboxId,
    });
  }
}

/** runc options naming the handler's runtime binary, when it names one. */
export function runtimeOptions(binary: string | undefined) {
  if (!binary) return undefined;
  return packAny('containerd.runc.v1.Options', RuncOptions, {
    ...RuncOptions.fromJSON({}),
    binaryName: binary,
  });
}
