import { SnapshotsService } from '../../api/gen/containerd/services/snapshots/v1/snapshots.js';
import { isBerthError } from '../../core/errors/catalogue.js';
import { NativeSnapshotter } from '../../snapshots/native/native.js';
import { OverlaySnapshotter } from '../../snapshots/overlay/overlay.js';
import type { Snapshotter } from '../../core/snapshots/types.js';
import type { Publisher } from '../daemon/publisher.js';
import { type InitContext, PluginType, type Registration, SkipPluginError } from '../daemon/types.js';
import { snapshotLeaseHook } from '../../core/metadata/lease-hooks.js';
import type { MetadataDB } from '../../core/metadata/db.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { SnapshotService } from './namespaced.js';
import { SnapshotsLocal } from './service.js';

/** overlayfs snapshotter under `<root>/io.berth.snapshotter.v1.overlayfs`; skipped where overlay cannot mount. */
export const overlayfsSnapshotterPlugin: Registration<Record<string, never>, Snapshotter> = {
  type: PluginType.Snapshotter,
  id: 'overlayfs',
  config: {},
  async init(ctx) {
    let sn: OverlaySnapshotter;
    try {
      sn = await OverlaySnapshotter.open(ctx.root);
    } catch (err) {
      if (isBerthError(err, 'FailedPrecondition')) throw new SkipPluginError(err.message);
      throw err;
    }
    ctx.meta.exports.root = ctx.root;
    ctx.onClose(() => sn.close());
    return sn;
  },
};

/** Copy-based snapshotter under `<root>/io.berth.snapshotter.v1.native`. */
export const nativeSnapshotterPlugin: Registration<Record<string, never>, Snapshotter> = {
  type: PluginType.Snapshotter,
  id: 'native',
  config: {},
  async init(ctx) {
    const sn = await NativeSnapshotter.open(ctx.root);
    ctx.meta.exports.root = ctx.root;
    ctx.onClose(() => sn.close());
    return sn;
  },
};

/** The namespaced layer over every loaded snapshotter, for in-process users. */
export const snapshotsPlugin: Registration<Record<string, never>, SnapshotService> = {
  type: PluginType.Internal,
  id: 'snapshots',
  requires: [PluginType.Metadata, PluginType.Event, PluginType.Snapshotter],
  init: (ctx) => {
    const service = new SnapshotService(
      ctx.get<MetadataDB>(PluginType.Metadata),
      ctx.getAll<Snapshotter>(PluginType.Snapshotter),
      ctx.get<Publisher>(PluginType.Event),
      ctx.log,
    );
    // Snapshots made under a `containerd-lease` header are recorded on that lease.
    service.setLeaseHook(snapshotLeaseHook);
    return service;
  },
};

/**
 * The namespaced snapshotter service, for plugins that use snapshots directly
 * (image unpacking, CRI). The caller must list PluginType.Internal in `requires`.
 */
export function getSnapshotService(ctx: Pick<InitContext, 'get'>): SnapshotService {
  return ctx.get<SnapshotService>(PluginType.Internal, 'snapshots');
}

export const snapshotsServicePlugin: Registration = {
  type: PluginType.Service,
  id: 'snapshots-service',
  requires: [PluginType.Internal],
  init: (ctx) => new SnapshotsLocal(getSnapshotService(ctx)),
};

export const snapshotsGrpcPlugin = grpcAdapterPlugin(
  'snapshots',
  'containerd.services.snapshots.v1.Snapshots',
  SnapshotsService,
  'snapshots-service',
);

/** Every snapshot registration, in the order builtinPlugins() should list them. */
export const snapshotPlugins: Registration[] = [
  overlayfsSnapshotterPlugin as Registration,
  nativeSnapshotterPlugin as Registration,
  snapshotsPlugin as Registration,
  snapshotsServicePlugin,
  snapshotsGrpcPlugin,
];
