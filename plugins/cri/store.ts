// Persistent CRI records: one JSON file per sandbox or container under the
// plugin's root, rewritten atomically (temp file + rename) on every change, and
// an in-memory copy for queries. The metadata DB keeps the matching container
// records (namespace k8s.io) that the task manager and `ctr` see.

import fs from 'node:fs/promises';
import path from 'node:path';
import { errNotFound } from '../../core/errors/catalogue.js';
import { ContainerConfig, type PodSandboxConfig } from '../../api/gen/cri/runtime/v1/api.js';

export type SandboxState = 'ready' | 'notready';

export interface SandboxRecord {
  id: string;
  name: string;
  /** PodSandboxConfig in its proto JSON form. */
  config: unknown;
  runtimeHandler: string;
  createdAt: number;
  state: SandboxState;
  /** Pinned network namespace, when the pod has its own. */
  netnsPath?: string;
  /** Pod IPs from the CNI result, primary first. */
  ips: string[];
  /** The CNI result, kept for DEL and status. */
  cniResult?: unknown;
  /** Per-pod directory holding hostname, hosts, resolv.conf and the shm mount. */
  dir: string;
  /** The infra container's image and snapshot; '' for a pod without one. */
  image: string;
  snapshotKey: string;
  /** The infra (pause) container's pid; 0 for a pod without one. */
  pid: number;
  /**
   * Set for a pod without an infra container: its pinned IPC and UTS
   * namespace files (absent where it uses the host's).
   */
  pinnedNs?: { ipc?: string; uts?: string };
  /** Whether the network has been torn down (StopPodSandbox is idempotent). */
  networkDown: boolean;
}

export type ContainerStateName = 'created' | 'running' | 'exited' | 'unknown';

export interface ContainerRecord {
  id: string;
  sandboxId: string;
  name: string;
  /** ContainerConfig in its proto JSON form. */
  config: unknown;
  /** Image as the request named it, and the resolved image id (config digest) and repo digest. */
  image: string;
  imageId: string;
  imageRef: string;
  snapshotKey: string;
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
  message: string;
  state: ContainerStateName;
  pid: number;
  /** Absolute log file, or '' when the pod has no log directory. */
  logPath: string;
  stopSignal: string;
  uid: number;
  gid: number;
  additionalGids: number[];
}

/** Parsed configs by the record's config object: a change of config replaces that object. */
const parsedConfigs = new WeakMap<object, ContainerConfig>();

/**
 * The record's ContainerConfig, parsed once per config rather than on every
 * status or list call. Shared: callers read it and never change it (to change
 * a config, parse a copy and store its JSON as a new `config`).
 */
export function containerConfigOf(rec: Pick<ContainerRecord, 'config'>): ContainerConfig {
  const raw = rec.config;
  if (typeof raw !== 'object' || raw === null) return ContainerConfig.fromJSON(raw);
  let cfg = parsedConfigs.get(raw);
  if (!cfg) parsedConfigs.set(raw, (cfg = ContainerConfig.fromJSON(raw)));
  return cfg;
}

class JsonRecords<T extends { id: string }> {
  readonly items = new Map<string, T>();

  constructor(
    private readonly dir: string,
    private readonly what: string,
  ) {}

  async load(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    for (const f of await fs.readdir(this.dir)) {
      if (!f.endsWith('.json')) continue;
      try {
        const rec = JSON.parse(await fs.readFile(path.join(this.dir, f), 'utf8')) as T;
        this.items.set(rec.id, rec);
      } catch {
        // A torn temp file from a crash: the rename never happened, the old record (if any) stands.
      }
    }
  }

  get(id: string): T {
    const r = this.items.get(id);
    if (!r) throw errNotFound(`${this.what} ${JSON.stringify(id)}`);
    return r;
  }

  find(id: string): T | undefined {
    return this.items.get(id);
  }

  /** The record whose id is `idOrPrefix` or the only one starting with it. */
  resolve(idOrPrefix: string): T {
    const exact = this.items.get(idOrPrefix);
    if (exact) return exact;
    const matches = idOrPrefix
      ? [...this.items.values()].filter((r) => r.id.startsWith(idOrPrefix))
      : [];
    if (matches.length === 1) return matches[0]!;
    throw errNotFound(
      matches.length > 1
        ? `${this.what} id prefix ${JSON.stringify(idOrPrefix)} is ambiguous`
        : `${this.what} ${JSON.stringify(idOrPrefix)}`,
    );
  }

  list(): T[] {
    return [...this.items.values()];
  }

  async put(rec: T): Promise<void> {
    this.items.set(rec.id, rec);
    const file = path.join(this.dir, `${rec.id}.json`);
    const tmp = `${file}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(rec));
    await fs.rename(tmp, file);
  }

  async delete(id: string): Promise<void> {
    this.items.delete(id);
    await fs.unlink(path.join(this.dir, `${id}.json`)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
}

export class CriStore {
  readonly sandboxes: JsonRecords<SandboxRecord>;
  readonly containers: JsonRecords<ContainerRecord>;

  constructor(root: string) {
    this.sandboxes = new JsonRecords(path.join(root, 'sandboxes'), 'pod sandbox');
    this.containers = new JsonRecords(path.join(root, 'containers'), 'container');
  }

  async load(): Promise<void> {
    await this.sandboxes.load();
    await this.containers.load();
  }
}

export type { ContainerConfig, PodSandboxConfig };
