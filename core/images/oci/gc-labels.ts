// The labels through which a parent blob keeps its children from garbage
// collection, keyed as containerd keys them so either daemon's collector and
// tools read the same graph: an index refers to its manifests as
// `…content.m.<i>`, a manifest to its config as `…content.config` and its
// layers as `…content.l.<i>`, numbered per key in child order.

import { isConfigType, isIndexType, isLayerType, isManifestType, Label } from './media-types.js';
import type { Descriptor } from './types.js';

function childKey(child: Pick<Descriptor, 'mediaType'>): string {
  const mt = child.mediaType;
  if (isIndexType(mt) || isManifestType(mt)) return `${Label.GCRefContent}.m.`;
  if (isLayerType(mt)) return `${Label.GCRefContent}.l.`;
  if (isConfigType(mt)) return `${Label.GCRefContent}.config`;
  return `${Label.GCRefContent}.`;
}

/** Labels for the parent of `children` (empty for none). */
export function childGCLabels(
  children: readonly Pick<Descriptor, 'mediaType' | 'digest'>[],
): Record<string, string> {
  const labels: Record<string, string> = {};
  const counts = new Map<string, number>();
  for (const ch of children) {
    let key = childKey(ch);
    const n = counts.get(key) ?? 0;
    counts.set(key, n + 1);
    if (n > 0 || key.endsWith('.')) key = `${key}${n}`;
    labels[key] = ch.digest;
  }
  return labels;
}

/** The label on an image's config blob that keeps its unpacked snapshot. */
export function snapshotGCLabel(snapshotter: string): string {
  return `${Label.GCRefSnapshot}.${snapshotter}`;
}
