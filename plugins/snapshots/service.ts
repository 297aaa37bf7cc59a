import type {
  CleanupRequest,
  CommitSnapshotRequest,
  Info as PbInfo,
  ListSnapshotsRequest,
  ListSnapshotsResponse,
  MountsRequest,
  MountsResponse,
  PrepareSnapshotRequest,
  PrepareSnapshotResponse,
  RemoveSnapshotRequest,
  StatSnapshotRequest,
  StatSnapshotResponse,
  UpdateSnapshotRequest,
  UpdateSnapshotResponse,
  UsageRequest,
  UsageResponse,
  ViewSnapshotRequest,
  ViewSnapshotResponse,
} from '../../api/gen/containerd/services/snapshots/v1/snapshots.js';
import type { Mount as PbMount } from '../../api/gen/containerd/types/mount.js';
import type { Empty } from '../../api/gen/google/protobuf/empty.js';
import { errInvalidArgument } from '../../core/errors/catalogue.js';
import { fromTimestamp, toTimestamp } from '../../core/protobuf/timestamp.js';
import type { Info, Kind, Mount } from '../../core/snapshots/types.js';
import type { CallContext } from '../server/context.js';
import type { SnapshotService } from './namespaced.js';
import type { SnapshotsService } from '../../api/gen/containerd/services/snapshots/v1/snapshots.js';
import type { LocalServiceOf } from '../server/types.js';

// containerd streams List in batches of this many records.
const LIST_BATCH = 100;

export function infoToProto(i: Info): PbInfo {
  return {
    name: i.name,
    parent: i.parent,
    kind: i.kind as number,
    createdAt: toTimestamp(i.created),
    updatedAt: toTimestamp(i.updated),
    labels: { ...i.labels },
  };
}

export function mountsToProto(ms: Mount[]): PbMount[] {
  return ms.map((m) => ({
    type: m.type,
    source: m.source,
    target: m.target ?? '',
    options: [...m.options],
  }));
}

/** containerd.services.snapshots.v1.Snapshots over the namespaced snapshotters. */
export class SnapshotsLocal implements LocalServiceOf<SnapshotsService> {
  constructor(readonly service: SnapshotService) {}

  async prepare(req: PrepareSnapshotRequest, ctx: CallContext): Promise<PrepareSnapshotResponse> {
    const sn = this.service.snapshotter(req.snapshotter);
    const mounts = await sn.prepare(ctx.namespace, req.key, req.parent, {
      labels: req.labels,
      lease: ctx.lease,
    });
    return { mounts: mountsToProto(mounts) };
  }

  async view(req: ViewSnapshotRequest, ctx: CallContext): Promise<ViewSnapshotResponse> {
    const sn = this.service.snapshotter(req.snapshotter);
    const mounts = await sn.view(ctx.namespace, req.key, req.parent, {
      labels: req.labels,
      lease: ctx.lease,
    });
    return { mounts: mountsToProto(mounts) };
  }

  async mounts(req: MountsRequest, ctx: CallContext): Promise<MountsResponse> {
    const sn = this.service.snapshotter(req.snapshotter);
    return { mounts: mountsToProto(await sn.mounts(ctx.namespace, req.key)) };
  }

  async commit(req: CommitSnapshotRequest, ctx: CallContext): Promise<Empty> {
    const sn = this.service.snapshotter(req.snapshotter);
    await sn.commit(ctx.namespace, req.name, req.key, { labels: req.labels, lease: ctx.lease });
    return {};
  }

  async remove(req: RemoveSnapshotRequest, ctx: CallContext): Promise<Empty> {
    await this.service.snapshotter(req.snapshotter).remove(ctx.namespace, req.key);
    return {};
  }

  async stat(req: StatSnapshotRequest, ctx: CallContext): Promise<StatSnapshotResponse> {
    const info = await this.service.snapshotter(req.snapshotter).stat(ctx.namespace, req.key);
    return { info: infoToProto(info) };
  }

  async update(req: UpdateSnapshotRequest, ctx: CallContext): Promise<UpdateSnapshotResponse> {
    if (!req.info) throw errInvalidArgument('snapshot info must be set');
    const sn = this.service.snapshotter(req.snapshotter);
    const info = await sn.update(
      ctx.namespace,
      {
        name: req.info.name,
        parent: req.info.parent,
        kind: req.info.kind as number as Kind,
        labels: req.info.labels ?? {},
        created: fromTimestamp(req.info.createdAt),
        updated: fromTimestamp(req.info.updatedAt),
      },
      req.updateMask ?? [],
    );
    return { info: infoToProto(info) };
  }

  async *list(req: ListSnapshotsRequest, ctx: CallContext): AsyncGenerator<ListSnapshotsResponse> {
    const sn = this.service.snapshotter(req.snapshotter);
    const all = await sn.list(ctx.namespace, req.filters ?? []);
    for (let i = 0; i < all.length; i += LIST_BATCH) {
      yield { info: all.slice(i, i + LIST_BATCH).map(infoToProto) };
    }
  }

  async usage(req: UsageRequest, ctx: CallContext): Promise<UsageResponse> {
    const u = await this.service.snapshotter(req.snapshotter).usage(ctx.namespace, req.key);
    return { size: u.size, inodes: u.inodes };
  }

  async cleanup(req: CleanupRequest, _ctx: CallContext): Promise<Empty> {
    await this.service.snapshotter(req.snapshotter).cleanup();
    return {};
  }
}
