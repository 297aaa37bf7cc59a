// The labels the collector reads on content, snapshots, images and containers
// (containerd's names, so records written by containerd clients behave the same).

/** Present (any value): the object is a root and lives until the label is removed. */
export const GC_ROOT_LABEL = 'containerd.io/gc.root';
/** `containerd.io/gc.ref.content` or `containerd.io/gc.ref.content.<name>` = digest. */
export const GC_REF_CONTENT = 'containerd.io/gc.ref.content';
/** `containerd.io/gc.ref.snapshot.<snapshotter>[/<name>]` = snapshot key. */
export const GC_REF_SNAPSHOT_PREFIX = 'containerd.io/gc.ref.snapshot.';

/** A node of the reference graph of one namespace. */
export type GCNode =
  { type: 'content'; digest: string } | { type: 'snapshot'; snapshotter: string; key: string };

/** Identity of a snapshot node: snapshotter names never hold '/', keys may. */
export function snapshotId(snapshotter: string, key: string): string {
  return `${snapshotter}/${key}`;
}

/** The references a label set makes, in label order. Empty values reference nothing. */
export function labelReferences(labels: Readonly<Record<string, string>>): GCNode[] {
  const out: GCNode[] = [];
  for (const [k, v] of Object.entries(labels)) {
    if (v === '') continue;
    if (k === GC_REF_CONTENT || k.startsWith(`${GC_REF_CONTENT}.`)) {
      out.push({ type: 'content', digest: v });
    } else if (k.startsWith(GC_REF_SNAPSHOT_PREFIX)) {
      // A '/<name>' suffix lets one object reference several snapshots of one snapshotter.
      const snapshotter = k.slice(GC_REF_SNAPSHOT_PREFIX.length).split('/', 1)[0]!;
      if (snapshotter !== '') out.push({ type: 'snapshot', snapshotter, key: v });
    }
  }
  return out;
}

export function isGCRoot(labels: Readonly<Record<string, string>>): boolean {
  return Object.prototype.hasOwnProperty.call(labels, GC_ROOT_LABEL);
}
