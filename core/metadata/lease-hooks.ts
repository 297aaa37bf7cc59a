// What the content store and the snapshotters record when a request carries a
// `containerd-lease` header: the new object becomes a resource of that lease
// in the same metadata transaction that creates it, so nothing is ever
// committed unprotected. A lease that does not exist fails the request with
// NotFound, as in containerd.

import type { ContentLeaseHooks } from './content.js';
import { addLeaseResourceTx } from './leases.js';
import { LAYOUT_PREFIX } from './keys.js';
import type { ReadTx, WriteTx } from './transaction.js';

// Ingests live in the content store's directory, not in the database, and a
// lease's resource list is gone once the lease is. To tell an ingest that was
// opened under a (since deleted) lease from one opened without any, the hook
// leaves a marker:
//
//   v1/gc/leased-ingests/<ns>/<percent-encoded ref>   {"lease": "<id>"}
//
// It lives outside v1/ns/<ns>/ so it never keeps a namespace from being
// deleted; the collector drops markers whose ingest is gone.
const LEASED_INGESTS_PREFIX = `${LAYOUT_PREFIX}gc/leased-ingests/`;

export function leasedIngestsPrefix(namespace: string): string {
  return `${LEASED_INGESTS_PREFIX}${namespace}/`;
}

export function leasedIngestKey(namespace: string, ref: string): string {
  return leasedIngestsPrefix(namespace) + encodeURIComponent(ref);
}

/** Refs of the namespace's ingests that were opened under a lease. */
export async function readLeasedIngests(tx: ReadTx, namespace: string): Promise<Set<string>> {
  const prefix = leasedIngestsPrefix(namespace);
  const out = new Set<string>();
  for await (const [key] of tx.entries(prefix))
    out.add(decodeURIComponent(key.slice(prefix.length)));
  return out;
}

export const contentLeaseHooks: ContentLeaseHooks = {
  async onCommit(namespace: string, lease: string, digest: string, tx: WriteTx) {
    await addLeaseResourceTx(tx, namespace, lease, { id: digest, type: 'content' });
  },
  async onIngest(namespace: string, lease: string, ref: string, tx: WriteTx) {
    await addLeaseResourceTx(tx, namespace, lease, { id: ref, type: 'ingests' });
    tx.putJSON(leasedIngestKey(namespace, ref), { lease });
  },
};

/**
 * Lets leases reference snapshots as they are created. Called inside the
 * metadata transaction that creates `key`, so the reference commits with it.
 */
export type SnapshotLeaseHook = (
  namespace: string,
  lease: string,
  key: string,
  ref: { snapshotter: string; tx: WriteTx },
) => void | Promise<void>;

export const snapshotLeaseHook: SnapshotLeaseHook = (namespace, lease, key, ref) =>
  addLeaseResourceTx(ref.tx, namespace, lease, { id: key, type: `snapshots/${ref.snapshotter}` });
