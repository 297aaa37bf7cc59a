// The shared snapshotter suite against both snapshotters, with real mounts.
import { describe } from 'vitest';
import { snapshotterConformance } from '../snapshots/conformance.js';
import { NativeSnapshotter } from '../snapshots/native/native.js';
import { OverlaySnapshotter } from '../snapshots/overlay/overlay.js';

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('snapshotters (root)', () => {
  snapshotterConformance('overlayfs', (root) => OverlaySnapshotter.open(root));
  snapshotterConformance('native', (root) => NativeSnapshotter.open(root));
});
