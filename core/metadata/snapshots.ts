// Which namespace owns which backend snapshot: the metadata DB's own store of
// kind `snapshots`. Client keys are per namespace and snapshotter; each maps to
// a backend key `<ns>/<seq>/<key>` so two namespaces can use the same key.
//
//   v1/ns/<ns>/snapshots/<snapshotter>/<key>   SnapshotRef (JSON)
//   v1/snapshotters/<snapshotter>/seq          last sequence number used in backend keys
//
// The sequence lives outside the namespace so that an emptied namespace can
// still be deleted.

import {
  BerthError,
  errAlreadyExists,
  errInvalidArgument,
  errNotFound,
} from '../errors/catalogue.js';
import { Kind } from '../snapshots/types.js';
import { kindPrefix, LAYOUT_PREFIX } from './keys.js';
import { compactLabels, type Labels } from './labels.js';
import type { ReadTx, WriteTx } from './transaction.js';

export const SNAPSHOTS_KIND = 'snapshots';

export interface SnapshotRef {
  /** Key of the snapshot in the backend snapshotter. */
  backendKey: string;
  /** Client key of the parent in the same namespace; '' for none. */
  parent: string;
  kind: Kind;
  labels: Labels;
  /** Client keys of the snapshots whose parent this is. */
  children: string[];
  createdAt: string;
  updatedAt: string;
}

export function refPrefix(namespace: string, snapshotter: string): string {
  return `${kindPrefix(namespace, SNAPSHOTS_KIND)}${snapshotter}/`;
}

export function refKey(namespace: string, snapshotter: string, key: string): string {
  return refPrefix(namespace, snapshotter) + key;
}

export function seqKey(snapshotter: string): string {
  return `${LAYOUT_PREFIX}snapshotters/${snapshotter}/seq`;
}

/** Lock serialising sequence numbers of one snapshotter across namespaces. */
export function seqLock(snapshotter: string): string {
  return `snapshotters/${snapshotter}/seq`;
}

/** containerd's backend key form. */
export function backendKey(namespace: string, seq: number, key: string): string {
  return `${namespace}/${seq}/${key}`;
}

function corrupt(key: string, detail: string): BerthError {
  return new BerthError('DataLoss', `metadata record ${JSON.stringify(key)} is corrupt: ${detail}`);
}

export function decodeRef(key: string, raw: string): SnapshotRef {
  let r: SnapshotRef;
  try {
    r = JSON.parse(raw) as SnapshotRef;
  } catch {
    throw corrupt(key, 'not valid JSON');
  }
  if (r === null || typeof r !== 'object') throw corrupt(key, 'not an object');
  if (typeof r.backendKey !== 'string' || r.backendKey === '') throw corrupt(key, 'no backend key');
  if (typeof r.parent !== 'string') throw corrupt(key, 'parent is not a string');
  if (![Kind.View, Kind.Active, Kind.Committed].includes(r.kind)) throw corrupt(key, 'bad kind');
  if (r.labels === null || typeof r.labels !== 'object') throw corrupt(key, 'labels not a map');
  if (!Array.isArray(r.children)) throw corrupt(key, 'children not a list');
  return r;
}

export function validateClientKey(key: string, what = 'snapshot key'): void {
  if (typeof key !== 'string' || key === '') throw errInvalidArgument(`${what} must not be empty`);
  if (key.includes('\0')) throw errInvalidArgument(`${what} ${JSON.stringify(key)} contains NUL`);
}

/** Typed access to the refs of one namespace and snapshotter inside a transaction. */
export class RefTx<T extends ReadTx = ReadTx> {
  constructor(
    readonly tx: T,
    readonly namespace: string,
    readonly snapshotter: string,
  ) {}

  async get(key: string): Promise<SnapshotRef | undefined> {
    const k = refKey(this.namespace, this.snapshotter, key);
    const raw = await this.tx.get(k);
    return raw === undefined ? undefined : decodeRef(k, raw);
  }

  async mustGet(key: string): Promise<SnapshotRef> {
    validateClientKey(key);
    const r = await this.get(key);
    if (!r) throw errNotFound(`snapshot ${JSON.stringify(key)}`);
    return r;
  }

  async list(): Promise<[string, SnapshotRef][]> {
    const prefix = refPrefix(this.namespace, this.snapshotter);
    const out: [string, SnapshotRef][] = [];
    for await (const [k, raw] of this.tx.entries(prefix))
      out.push([k.slice(prefix.length), decodeRef(k, raw)]);
    return out;
  }
}

export class RefWriteTx extends RefTx<WriteTx> {
  put(key: string, ref: SnapshotRef): void {
    this.tx.putJSON(refKey(this.namespace, this.snapshotter, key), {
      ...ref,
      labels: compactLabels(ref.labels),
    });
  }

  del(key: string): void {
    this.tx.del(refKey(this.namespace, this.snapshotter, key));
  }

  async assertAbsent(key: string): Promise<void> {
    if (await this.get(key)) throw errAlreadyExists(`snapshot ${JSON.stringify(key)}`);
  }

  /** Next sequence number for this snapshotter's backend keys (hold seqLock). */
  async nextSeq(): Promise<number> {
    const k = seqKey(this.snapshotter);
    const seq = Number((await this.tx.get(k)) ?? '0') + 1;
    this.tx.put(k, String(seq));
    return seq;
  }

  async addChild(parent: string, child: string): Promise<void> {
    const p = await this.mustGet(parent);
    if (!p.children.includes(child)) p.children.push(child);
    this.put(parent, p);
  }

  async removeChild(parent: string, child: string): Promise<void> {
    const p = await this.get(parent);
    if (!p) return;
    p.children = p.children.filter((c) => c !== child);
    this.put(parent, p);
  }
}
