// Mark-and-sweep garbage collection over the metadata database, then the
// content and snapshot backends.
//
// Concurrency. Every write path that creates or references an object in a
// namespace (content commits, ingest leases, snapshot prepare/commit, image and
// container records, leases) runs in a metadata transaction holding that
// namespace's lock, and references never cross namespaces. Each namespace is
// therefore marked and swept inside one transaction holding its lock: the same
// exclusion containerd gets from its database-wide GC lock, one namespace at a
// time. The backends are swept afterwards under their own exclusion: a blob is
// deleted through ContentMetadataStore.deleteBlob, which re-checks references
// under the per-digest lock commits hold; orphaned backend snapshots are
// judged under the snapshotter's sequence lock, which every prepare and commit
// holds from the backend call until its record commits. Objects in flight
// between transactions (an ingest being written, a layer being unpacked) are
// protected by the lease their client holds, as in containerd.

import type { Logger } from 'pino';
import { isBerthError } from '../../errors/catalogue.js';
import type { Info as BackendInfo, Snapshotter } from '../../snapshots/types.js';
import { CONTENT_KIND, type ContentMetadataStore } from '../content.js';
import { readImages } from '../images.js';
import {
  isExpired,
  type LeaseStore,
  readAllLeases,
  readLeaseResources,
  readLeases,
} from '../leases.js';
import { CONTAINERS_KIND } from '../containers.js';
import { kindPrefix, NAMESPACES_PREFIX, resourceKey } from '../keys.js';
import { namespaceLock } from '../namespaces.js';
import { corrupt, type ReadTx, type TxRunner, type WriteTx } from '../transaction.js';
import { decodeRef, refPrefix, RefWriteTx, SNAPSHOTS_KIND, seqLock } from '../snapshots.js';
import { snapshotId } from './labels.js';
import { leasedIngestKey, readLeasedIngests } from '../lease-hooks.js';
import { type IngestNode, mark, type NamespaceState, type SnapshotNode } from './mark.js';

export interface RemovedContent {
  namespace: string;
  digest: string;
}
export interface RemovedSnapshot {
  namespace: string;
  snapshotter: string;
  key: string;
}
export interface RemovedLease {
  namespace: string;
  id: string;
}
export interface RemovedIngest {
  namespace: string;
  ref: string;
}

/** What one collection removed. */
export interface CollectResult {
  startedAt: Date;
  durationMs: number;
  /** Namespaced content records. */
  content: RemovedContent[];
  /** Namespaced snapshot records. */
  snapshots: RemovedSnapshot[];
  /** Expired leases. */
  leases: RemovedLease[];
  /** Aborted ingests. */
  ingests: RemovedIngest[];
  /** Blob files no namespace references any more. */
  blobs: string[];
  /** Bytes those blob files held. */
  blobBytes: number;
  /** Backend snapshots no namespace owned (namespace '', key is the backend key). */
  backendSnapshots: RemovedSnapshot[];
  /** Parts that failed; the rest of the collection still ran. */
  errors: string[];
}

export interface CollectorOptions {
  db: TxRunner;
  leases: LeaseStore;
  content: ContentMetadataStore;
  /** Backend snapshotters by name. */
  snapshotters: ReadonlyMap<string, Snapshotter>;
  /** An ingest opened without a lease lives this long after its last write. */
  ingestExpiryMs: number;
  log?: Pick<Logger, 'warn' | 'debug'>;
  now?: () => Date;
}

function emptyResult(startedAt: Date): CollectResult {
  return {
    startedAt,
    durationMs: 0,
    content: [],
    snapshots: [],
    leases: [],
    ingests: [],
    blobs: [],
    blobBytes: 0,
    backendSnapshots: [],
    errors: [],
  };
}

/** Whether a collection removed anything. */
export function removedAnything(r: CollectResult): boolean {
  return (
    r.content.length +
      r.snapshots.length +
      r.leases.length +
      r.ingests.length +
      r.blobs.length +
      r.backendSnapshots.length >
    0
  );
}

async function namespacesIn(tx: ReadTx): Promise<string[]> {
  const out: string[] = [];
  for await (const [key] of tx.entries(NAMESPACES_PREFIX))
    out.push(key.slice(NAMESPACES_PREFIX.length));
  return out;
}

function parseLabels(key: string, v: unknown): Record<string, string> {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || !Object.values(v).every((x) => typeof x === 'string'))
    throw corrupt(key, 'labels is not a map of strings');
  return v as Record<string, string>;
}

function parseRecord(key: string, raw: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err) {
    throw corrupt(key, 'not valid JSON', err);
  }
  if (v === null || typeof v !== 'object') throw corrupt(key, 'not an object');
  return v as Record<string, unknown>;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The garbage collector. Runs are serialised: one at a time, callers queue. */
export class Collector {
  private running: Promise<CollectResult> | undefined;
  private queued: Promise<CollectResult> | undefined;
  private readonly now: () => Date;

  constructor(private readonly opts: CollectorOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  /**
   * Collect now. A call made while a collection runs waits for the next one,
   * so it always sees every change made before it was called; calls that
   * arrive together share that next run.
   */
  collect(): Promise<CollectResult> {
    if (!this.running) return this.start();
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.start();
      });
    return this.queued;
  }

  /** Resolves once no collection is running or queued. */
  async idle(): Promise<void> {
    while (this.running || this.queued) await (this.queued ?? this.running)?.catch(() => undefined);
  }

  /**
   * Whether something has expired with no change to announce it: a lease past
   * its expiry, or an ingest without a lease older than the ingest expiry.
   * Cheap enough for a periodic check on an idle daemon.
   */
  async hasExpired(): Promise<boolean> {
    const now = this.now();
    const leases = await this.opts.db.view(readAllLeases);
    if (leases.some((l) => isExpired(l.lease, now))) return true;
    const cutoff = now.getTime() - this.opts.ingestExpiryMs;
    const stale = (await this.opts.content.store.listStatuses()).filter(
      (s) => s.updatedAt.getTime() < cutoff,
    );
    if (stale.length === 0) return false;
    const leasedRefs = new Set(
      leases.flatMap((l) =>
        l.resources.filter((r) => r.type === 'ingests').map((r) => `${l.namespace}/${r.id}`),
      ),
    );
    return stale.some((s) => !leasedRefs.has(s.ref));
  }

  private start(): Promise<CollectResult> {
    const p = this.run().finally(() => {
      if (this.running === p) this.running = undefined;
    });
    this.running = p;
    return p;
  }

  private async run(): Promise<CollectResult> {
    const startedAt = this.now();
    const t0 = performance.now();
    const result = emptyResult(startedAt);
    const attempt = async (what: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        result.errors.push(`${what}: ${errorText(err)}`);
        this.opts.log?.warn({ err }, `garbage collection: ${what} failed`);
      }
    };

    const namespaces = new Set(await this.opts.db.view(namespacesIn));
    // An ingest opened without a lease does not create its namespace.
    for (const s of await this.opts.content.store.listStatuses())
      namespaces.add(s.ref.slice(0, s.ref.indexOf('/')));
    for (const ns of namespaces)
      await attempt(`namespace ${ns}`, () => this.collectNamespace(ns, result));
    await attempt('content blobs', () => this.sweepBlobs(result));
    for (const [name, backend] of this.opts.snapshotters)
      await attempt(`snapshotter ${name}`, () => this.sweepSnapshotter(name, backend, result));

    result.durationMs = performance.now() - t0;
    this.opts.log?.debug(
      {
        content: result.content.length,
        snapshots: result.snapshots.length,
        leases: result.leases.length,
        ingests: result.ingests.length,
        blobs: result.blobs.length,
        backendSnapshots: result.backendSnapshots.length,
        ms: Math.round(result.durationMs),
      },
      'garbage collected',
    );
    return result;
  }

  /** Mark and sweep one namespace's records in one transaction holding its lock. */
  private async collectNamespace(ns: string, result: CollectResult): Promise<void> {
    const now = this.now();
    const expired = await this.opts.db.update([namespaceLock(ns)], async (tx) => {
      const state = await this.readNamespace(tx, ns);
      const live = mark(state, { now, ingestExpiryMs: this.opts.ingestExpiryMs });

      for (const digest of state.content.keys()) {
        if (live.content.has(digest)) continue;
        tx.del(resourceKey(ns, CONTENT_KIND, digest));
        result.content.push({ namespace: ns, digest });
      }
      await this.sweepSnapshotRecords(tx, ns, state.snapshots, live.snapshots, result);
      await this.sweepIngests(tx, ns, state.ingests, live.ingests, result);
      return live.expiredLeases;
    });
    // Expired leases protected nothing in the sweep above; drop their records.
    for (const id of expired) {
      try {
        await this.opts.leases.delete(ns, id);
        result.leases.push({ namespace: ns, id });
      } catch (err) {
        if (!isBerthError(err, 'NotFound')) throw err;
      }
    }
  }

  private async readNamespace(tx: WriteTx, ns: string): Promise<NamespaceState> {
    const content = new Map<string, Record<string, string>>();
    const contentPrefix = kindPrefix(ns, CONTENT_KIND);
    for await (const [key, raw] of tx.entries(contentPrefix))
      content.set(key.slice(contentPrefix.length), parseLabels(key, parseRecord(key, raw).labels));

    const snapshots = new Map<string, SnapshotNode>();
    const snapPrefix = kindPrefix(ns, SNAPSHOTS_KIND);
    for await (const [key, raw] of tx.entries(snapPrefix)) {
      const rest = key.slice(snapPrefix.length);
      const slash = rest.indexOf('/');
      if (slash <= 0) throw corrupt(key, 'not a snapshot record key');
      const snapshotter = rest.slice(0, slash);
      const name = rest.slice(slash + 1);
      const ref = decodeRef(key, raw);
      snapshots.set(snapshotId(snapshotter, name), {
        snapshotter,
        key: name,
        parent: ref.parent,
        labels: ref.labels,
      });
    }

    const images = (await readImages(tx, ns)).map((i) => ({
      target: i.target.digest,
      labels: i.labels,
    }));

    const containers: NamespaceState['containers'][number][] = [];
    for await (const [key, raw] of tx.entries(kindPrefix(ns, CONTAINERS_KIND))) {
      const c = parseRecord(key, raw);
      if (typeof c.snapshotter !== 'string' || typeof c.snapshotKey !== 'string')
        throw corrupt(key, 'snapshotter or snapshotKey is not a string');
      containers.push({
        snapshotter: c.snapshotter,
        snapshotKey: c.snapshotKey,
        labels: parseLabels(key, c.labels),
      });
    }

    const leases = [];
    for (const lease of await readLeases(tx, ns))
      leases.push({ lease, resources: await readLeaseResources(tx, ns, lease.id) });

    // Listed while the namespace lock is held: the lease hook of an ingest
    // commits under that lock after the ingest exists, so every marker read
    // here belongs to an ingest this listing can see.
    const leasedRefs = await readLeasedIngests(tx, ns);
    const prefix = `${ns}/`;
    const ingests: IngestNode[] = (await this.opts.content.store.listStatuses([], prefix)).map(
      (s) => {
        const ref = s.ref.slice(prefix.length);
        return { ref, updatedAt: s.updatedAt, leased: leasedRefs.has(ref) };
      },
    );
    // Markers of ingests that were committed or aborted since.
    const present = new Set(ingests.map((i) => i.ref));
    for (const ref of leasedRefs) if (!present.has(ref)) tx.del(leasedIngestKey(ns, ref));

    return { content, snapshots, images, containers, leases, ingests };
  }

  private async sweepSnapshotRecords(
    tx: WriteTx,
    ns: string,
    all: ReadonlyMap<string, SnapshotNode>,
    live: ReadonlySet<string>,
    result: CollectResult,
  ): Promise<void> {
    for (const [sid, s] of all) {
      if (live.has(sid)) continue;
      const refs = new RefWriteTx(tx, ns, s.snapshotter);
      refs.del(s.key);
      result.snapshots.push({ namespace: ns, snapshotter: s.snapshotter, key: s.key });
      // The parent of a dead snapshot may live on: it must forget this child,
      // or it could never be removed. (A live snapshot's parent is live.)
      if (s.parent && live.has(snapshotId(s.snapshotter, s.parent)))
        await refs.removeChild(s.parent, s.key);
    }
  }

  private async sweepIngests(
    tx: WriteTx,
    ns: string,
    ingests: readonly IngestNode[],
    live: ReadonlySet<string>,
    result: CollectResult,
  ): Promise<void> {
    for (const ing of ingests) {
      if (live.has(ing.ref)) continue;
      const backendRef = `${ns}/${ing.ref}`;
      try {
        // Written to since it was judged (resumed under a new lease): leave it.
        const now = await this.opts.content.store.status(backendRef);
        if (now.updatedAt.getTime() !== ing.updatedAt.getTime()) continue;
        await this.opts.content.store.abort(backendRef);
      } catch (err) {
        if (!isBerthError(err, 'NotFound')) throw err;
      }
      if (ing.leased) tx.del(leasedIngestKey(ns, ing.ref));
      result.ingests.push({ namespace: ns, ref: ing.ref });
    }
  }

  /** Blob files no namespace holds a record for. */
  private async sweepBlobs(result: CollectResult): Promise<void> {
    const { content } = this.opts;
    const referenced = await content.referencedDigests();
    const candidates: { digest: string; size: number }[] = [];
    await content.store.walk((b) => {
      if (!referenced.has(b.digest)) candidates.push(b);
    });
    for (const { digest, size } of candidates) {
      try {
        // Re-checks the references under the digest's lock: a commit racing
        // this sweep either finished first (FailedPrecondition) or comes after.
        await content.deleteBlob(digest);
        result.blobs.push(digest);
        result.blobBytes += size;
      } catch (err) {
        if (isBerthError(err, 'FailedPrecondition') || isBerthError(err, 'NotFound')) continue;
        throw err;
      }
    }
  }

  /** Backend snapshots no namespaced record owns, children first; then the backend's cleanup. */
  private async sweepSnapshotter(
    name: string,
    backend: Snapshotter,
    result: CollectResult,
  ): Promise<void> {
    const { orphans, parents } = await this.opts.db.update([seqLock(name)], async (tx) => {
      const owned = new Set<string>();
      for (const ns of await namespacesIn(tx)) {
        const prefix = refPrefix(ns, name);
        for await (const [key, raw] of tx.entries(prefix))
          owned.add(decodeRef(key, raw).backendKey);
      }
      const infos: BackendInfo[] = [];
      await backend.walk((i) => {
        infos.push(i);
      });
      return {
        orphans: infos.filter((i) => !owned.has(i.name)).map((i) => i.name),
        parents: new Map(infos.map((i) => [i.name, i.parent])),
      };
    });
    // New snapshots never use an orphan (no record, so no parent of anything
    // new), so removal can run outside the lock. Deepest first: children go
    // before their parents.
    const depth = (k: string) => {
      let d = 0;
      for (let p = parents.get(k); p; p = parents.get(p)) if (++d > parents.size) break;
      return d;
    };
    orphans.sort((a, b) => depth(b) - depth(a));
    for (const key of orphans) {
      try {
        await backend.remove(key);
        result.backendSnapshots.push({ namespace: '', snapshotter: name, key });
      } catch (err) {
        if (isBerthError(err, 'NotFound')) continue;
        // A child that still has a record keeps it; report and go on.
        result.errors.push(`snapshotter ${name}: remove ${key}: ${errorText(err)}`);
      }
    }
    await backend.cleanup();
  }
}
