export {
  NativeSnapshotterRef,
  OverlayfsSnapshotterRef,
  SnapshotServiceRef,
  SnapshotsServiceRef,
  SnapshottersRef,
  nativeSnapshotterPlugin,
  overlayfsSnapshotterPlugin,
  snapshotPlugins,
  snapshotsGrpcPlugin,
  snapshotsPlugin,
  snapshotsServicePlugin,
} from './plugin.js';
export {
  INHERITED_LABEL_PREFIX,
  NamespacedSnapshotter,
  SnapshotService,
  type CreateOptions,
  type SnapshotLeaseHook,
} from './namespaced.js';
export { SnapshotsLocal, infoToProto, mountsToProto } from './service.js';
export { SNAPSHOTS_KIND } from '../../core/metadata/snapshots.js';
