// Snapshots section of the Node client. Every call names the snapshotter, as
// the containerd Snapshots API requires.
import {
  type Info,
  Kind,
  type ListSnapshotsResponse,
  SnapshotsClient,
  type UsageResponse,
} from '../api/gen/containerd/services/snapshots/v1/snapshots.js';
import type { Mount } from '../api/gen/containerd/types/mount.js';
import type { StreamSite } from './connection.js';

export { Kind as SnapshotKind, type Info as SnapshotInfo, type Mount };

export const DEFAULT_SNAPSHOTTER = 'overlayfs';

export class SnapshotsApi {
  constructor(
    private readonly client: StreamSite,
    readonly snapshotter: string = process.env.BERTH_SNAPSHOTTER || DEFAULT_SNAPSHOTTER,
  ) {}

  private call<Res>(method: string, req: Record<string, unknown>): Promise<Res> {
    return this.client.call<Res>(SnapshotsClient, method, {
      snapshotter: this.snapshotter,
      ...req,
    });
  }

  async prepare(key: string, parent = '', labels: Record<string, string> = {}): Promise<Mount[]> {
    return (await this.call<{ mounts: Mount[] }>('prepare', { key, parent, labels })).mounts;
  }

  async view(key: string, parent = '', labels: Record<string, string> = {}): Promise<Mount[]> {
    return (await this.call<{ mounts: Mount[] }>('view', { key, parent, labels })).mounts;
  }

  async mounts(key: string): Promise<Mount[]> {
    return (await this.call<{ mounts: Mount[] }>('mounts', { key })).mounts;
  }

  async commit(name: string, key: string, labels: Record<string, string> = {}): Promise<void> {
    await this.call('commit', { name, key, labels });
  }

  async remove(key: string): Promise<void> {
    await this.call('remove', { key });
  }

  async stat(key: string): Promise<Info> {
    return (await this.call<{ info: Info }>('stat', { key })).info;
  }

  async update(info: Partial<Info> & Pick<Info, 'name'>, fieldpaths: string[]): Promise<Info> {
    const full: Info = {
      parent: '',
      kind: Kind.UNKNOWN,
      createdAt: undefined,
      updatedAt: undefined,
      labels: {},
      ...info,
    };
    return (await this.call<{ info: Info }>('update', { info: full, updateMask: fieldpaths })).info;
  }

  /** Sets (or, with an empty value, removes) labels; other labels are kept. */
  setLabels(key: string, labels: Record<string, string>): Promise<Info> {
    return this.update(
      { name: key, labels },
      Object.keys(labels).map((k) => `labels.${k}`),
    );
  }

  async list(...filters: string[]): Promise<Info[]> {
    const out: Info[] = [];
    const stream = this.client.stream<ListSnapshotsResponse>(
      SnapshotsClient,
      'list',
      { snapshotter: this.snapshotter, filters },
      { timeoutMs: undefined },
    );
    for await (const batch of stream) out.push(...batch.info);
    return out;
  }

  async usage(key: string): Promise<{ size: number; inodes: number }> {
    const u = await this.call<UsageResponse>('usage', { key });
    return { size: Number(u.size), inodes: Number(u.inodes) };
  }

  async cleanup(): Promise<void> {
    await this.call('cleanup', {});
  }
}
