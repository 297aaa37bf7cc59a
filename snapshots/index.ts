// Snapshotters and what their users need; no plugin code lives here.
export {
  Kind,
  kindName,
  type Info,
  type Mount,
  type Snapshotter,
  type SnapshotOptions,
  type Usage,
} from '../core/snapshots/types.js';
export { OverlaySnapshotter, type OverlayOptions } from './overlay/overlay.js';
export { overlayMounts } from './overlay/mounts.js';
export { checkOverlaySupport } from './overlay/support.js';
export { NativeSnapshotter } from './native/native.js';
export {
  compactLowerdir,
  mountAll,
  mountOne,
  unmountAll,
  type CompactedMount,
} from '../core/mount/index.js';
export { diskUsage } from './disk-usage.js';
export { copyTree } from './copy-tree.js';
