// The mark phase over one namespace, as a pure function of what the namespace
// holds. References never cross namespaces, so each namespace is marked on
// its own, from one consistent read.

import { isExpired, isFlat, type Lease, type LeaseResource } from '../leases.js';
import { type GCNode, isGCRoot, labelReferences, snapshotId } from './labels.js';

type Labels = Readonly<Record<string, string>>;

export interface SnapshotNode {
  snapshotter: string;
  key: string;
  /** Key of the parent in the same snapshotter; '' for none. */
  parent: string;
  labels: Labels;
}

export interface IngestNode {
  ref: string;
  updatedAt: Date;
  /** Opened under a lease: lives exactly as long as a lease lists it, never by age. */
  leased: boolean;
}

/** Everything of one namespace the collector reads. */
export interface NamespaceState {
  /** digest -> labels */
  content: ReadonlyMap<string, Labels>;
  /** snapshotId(snapshotter, key) -> snapshot */
  snapshots: ReadonlyMap<string, SnapshotNode>;
  images: readonly { target: string; labels: Labels }[];
  containers: readonly { snapshotter: string; snapshotKey: string; labels: Labels }[];
  leases: readonly { lease: Lease; resources: readonly LeaseResource[] }[];
  ingests: readonly IngestNode[];
}

export interface MarkOptions {
  now: Date;
  /** An ingest opened without a lease lives this long after its last write. */
  ingestExpiryMs: number;
}

/** What survives; everything else the state holds is garbage. */
export interface MarkResult {
  content: Set<string>;
  /** snapshotId values */
  snapshots: Set<string>;
  ingests: Set<string>;
  /** Ids of the leases that no longer protect anything. */
  expiredLeases: string[];
}

export function mark(state: NamespaceState, opts: MarkOptions): MarkResult {
  const live: MarkResult = {
    content: new Set(),
    snapshots: new Set(),
    ingests: new Set(),
    expiredLeases: [],
  };
  // Nodes whose references were (or are queued to be) followed. A node reached
  // only through a flat lease is live without being in here.
  const expanded = new Set<string>();
  const queue: GCNode[] = [];

  const visit = (node: GCNode, follow: boolean): void => {
    let id: string;
    if (node.type === 'content') {
      // A reference to something the namespace does not hold is a dead edge.
      if (!state.content.has(node.digest)) return;
      live.content.add(node.digest);
      id = `c:${node.digest}`;
    } else {
      const sid = snapshotId(node.snapshotter, node.key);
      if (!state.snapshots.has(sid)) return;
      live.snapshots.add(sid);
      id = `s:${sid}`;
    }
    if (!follow || expanded.has(id)) return;
    expanded.add(id);
    queue.push(node);
  };

  // Roots.
  for (const { lease, resources } of state.leases) {
    if (isExpired(lease, opts.now)) {
      live.expiredLeases.push(lease.id);
      continue;
    }
    const follow = !isFlat(lease);
    for (const r of resources) {
      if (r.type === 'content') visit({ type: 'content', digest: r.id }, follow);
      else if (r.type === 'ingests') live.ingests.add(r.id);
      else if (r.type.startsWith('snapshots/')) {
        const snapshotter = r.type.slice('snapshots/'.length);
        const sid = snapshotId(snapshotter, r.id);
        visit({ type: 'snapshot', snapshotter, key: r.id }, follow);
        // A flat lease skips label references, but a snapshot cannot outlive
        // its parent chain: keep the parents.
        if (!follow && state.snapshots.has(sid)) markParents(state, sid, visit);
      }
    }
  }
  for (const img of state.images) {
    visit({ type: 'content', digest: img.target }, true);
    for (const ref of labelReferences(img.labels)) visit(ref, true);
  }
  for (const c of state.containers) {
    if (c.snapshotter && c.snapshotKey)
      visit({ type: 'snapshot', snapshotter: c.snapshotter, key: c.snapshotKey }, true);
    for (const ref of labelReferences(c.labels)) visit(ref, true);
  }
  for (const [digest, labels] of state.content)
    if (isGCRoot(labels)) visit({ type: 'content', digest }, true);
  for (const s of state.snapshots.values())
    if (isGCRoot(s.labels))
      visit({ type: 'snapshot', snapshotter: s.snapshotter, key: s.key }, true);
  const cutoff = opts.now.getTime() - opts.ingestExpiryMs;
  for (const ing of state.ingests)
    if (!ing.leased && ing.updatedAt.getTime() >= cutoff) live.ingests.add(ing.ref);

  // References.
  for (let node = queue.pop(); node; node = queue.pop()) {
    if (node.type === 'content') {
      for (const ref of labelReferences(state.content.get(node.digest)!)) visit(ref, true);
      continue;
    }
    const s = state.snapshots.get(snapshotId(node.snapshotter, node.key))!;
    if (s.parent) visit({ type: 'snapshot', snapshotter: s.snapshotter, key: s.parent }, true);
    for (const ref of labelReferences(s.labels)) visit(ref, true);
  }
  return live;
}

function markParents(
  state: NamespaceState,
  sid: string,
  visit: (node: GCNode, follow: boolean) => void,
): void {
  const seen = new Set<string>();
  for (let s = state.snapshots.get(sid); s?.parent && !seen.has(s.parent);) {
    seen.add(s.parent);
    visit({ type: 'snapshot', snapshotter: s.snapshotter, key: s.parent }, false);
    s = state.snapshots.get(snapshotId(s.snapshotter, s.parent));
  }
}
