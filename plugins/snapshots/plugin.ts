import { SnapshotsService } from '../../api/gen/containerd/services/snapshots/v1/snapshots.js';
import { isBerthError } from '../../core/errors/catalogue.js';
import { NativeSnapshotter } from '../../snapshots/native/native.js';
import { OverlaySnapshotter } from '../../snapshots/overlay/overlay.js';
import type { Snapshotter } from '../../core/snapshots/types.js';
import {
  definePlugin,
  PluginType,
  pluginRef,
  pluginTypeRef,
  type Registration,
  SkipPluginError,
} from '../daemon/types.js';
import { ExchangeRef } from '../events/plugin.js';
import { snapshotLeaseHook } from '../../core/metadata/lease-hooks.js';
import { MetadataRef } from '../metadata/plugin.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { SnapshotService } from './namespaced.js';
import { SnapshotsLocal } from './service.js';

/** Every loaded snapshotter backend, keyed by name. */
export const SnapshottersRef = pluginTypeRef<Snapshotter>(PluginType.Snapshotter);
export const OverlayfsSnapshotterRef = pluginRef<Snapshotter>(PluginType.Snapshotter, 'overlayfs');
export const NativeSnapshotterRef = pluginRef<Snapshotter>(PluginType.Snapshotter, 'native');
/** The namespaced snapshotter service, for plugins that use snapshots directly (image unpacking, CRI, tasks). */
export const SnapshotServiceRef = pluginRef<SnapshotService>(PluginType.Internal, 'snapshots');
export const SnapshotsServiceRef = pluginRef<SnapshotsLocal>(
  PluginType.Service,
  'snapshots-service',
);

/** overlayfs snapshotter under `<root>/io.berth.snapshotter.v1.overlayfs`; skipped where overlay cannot mount. */
export const overlayfsSnapshotterPlugin = definePlugin(OverlayfsSnapshotterRef, {
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
});

/** Copy-based snapshotter under `<root>/io.berth.snapshotter.v1.native`. */
export const nativeSnapshotterPlugin = definePlugin(NativeSnapshotterRef, {
  config: {},
  async init(ctx) {
    const sn = await NativeSnapshotter.open(ctx.root);
    ctx.meta.exports.root = ctx.root;
    ctx.onClose(() => sn.close());
    return sn;
  },
});

/** The namespaced layer over every loaded snapshotter, for in-process users. */
export const snapshotsPlugin = definePlugin(SnapshotServiceRef, {
  requires: [PluginType.Metadata, PluginType.Event, PluginType.Snapshotter],
  init: (ctx) => {
    const service = new SnapshotService(
      ctx.get(MetadataRef),
      ctx.getAll(SnapshottersRef),
      ctx.get(ExchangeRef),
      ctx.log,
    );
    // Snapshots made under a `containerd-lease` header are recorded on that lease.
    service.setLeaseHook(snapshotLeaseHook);
    ctx.onClose(() => service.close());
    return service;
  },
});

export const snapshotsServicePlugin = definePlugin(SnapshotsServiceRef, {
  requires: [PluginType.Internal],
  init: (ctx) => new SnapshotsLocal(ctx.get(SnapshotServiceRef)),
});

export const snapshotsGrpcPlugin = grpcAdapterPlugin(
  'snapshots',
  SnapshotsService,
  SnapshotsServiceRef,
);

/** Every snapshot registration, in the order builtinPlugins() should list them. */
export const snapshotPlugins: Registration[] = [
  overlayfsSnapshotterPlugin as Registration,
  nativeSnapshotterPlugin as Registration,
  snapshotsPlugin as Registration,
  snapshotsServicePlugin as Registration,
  snapshotsGrpcPlugin as Registration,
];
