// Operations on a snapshotter's records, run inside one transaction: reads see
// the transaction's own staged writes, and the writes land as one synced batch.

import type { ClassicLevel } from 'classic-level';
import {
  errAlreadyExists,
  errFailedPrecondition,
  errInvalidArgument,
  errNotFound,
} from '../../core/errors/catalogue.js';
import { type Info, Kind, type Usage } from '../../core/snapshots/types.js';
import {
  childKey,
  childRange,
  compact,
  decodeSnapshot,
  SEQ_KEY,
  SNAPSHOT_PREFIX,
  type StoredSnapshot,
  snapshotKey,
  toInfo,
  validateKey,
} from './record.js';

export type Level = ClassicLevel<string, string>;
type LevelSnapshot = ReturnType<Level['snapshot']>;

/** A snapshot as the snapshotter sees it: its directory id and its ancestors. */
export interface SnapshotRecord {
  id: string;
  kind: Kind;
  /** Ids of the parent chain, nearest parent first. */
  parentIds: string[];
}

export class StoreTx {
  // key -> new value, or null for a deletion
  private readonly pending = new Map<string, string | null>();

  constructor(
    private readonly level: Level,
    private readonly snapshot: LevelSnapshot,
    private readonly writable: boolean,
  ) {}

  private async get(key: string): Promise<string | undefined> {
    const staged = this.pending.get(key);
    if (staged !== undefined) return staged ?? undefined;
    return this.level.get(key, { snapshot: this.snapshot });
  }

  private put(key: string, value: string): void {
    if (!this.writable) throw new Error('write in a read-only snapshot transaction');
    this.pending.set(key, value);
  }

  private del(key: string): void {
    if (!this.writable) throw new Error('write in a read-only snapshot transaction');
    this.pending.set(key, null);
  }

  /** Keys in [gte, lt), stored merged with staged, in byte order. */
  private async range(gte: string, lt: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for await (const [k, v] of this.level.iterator({ gte, lt, snapshot: this.snapshot }))
      out.set(k, v);
    const inRange = (k: string) =>
      Buffer.compare(Buffer.from(k), Buffer.from(gte)) >= 0 &&
      Buffer.compare(Buffer.from(k), Buffer.from(lt)) < 0;
    for (const [k, v] of this.pending) {
      if (!inRange(k)) continue;
      if (v === null) out.delete(k);
      else out.set(k, v);
    }
    return new Map([...out].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  }

  private async read(key: string): Promise<StoredSnapshot | undefined> {
    const raw = await this.get(snapshotKey(key));
    return raw === undefined ? undefined : decodeSnapshot(key, raw);
  }

  private async mustRead(key: string): Promise<StoredSnapshot> {
    validateKey(key);
    const s = await this.read(key);
    if (!s) throw errNotFound(`snapshot ${JSON.stringify(key)}`);
    return s;
  }

  private write(key: string, s: StoredSnapshot): void {
    this.put(snapshotKey(key), JSON.stringify(s));
  }

  private async parentIds(parent: string): Promise<string[]> {
    const ids: string[] = [];
    const seen = new Set<string>();
    for (let p = parent; p !== '';) {
      if (seen.has(p))
        throw errInvalidArgument(`snapshot parent chain loops at ${JSON.stringify(p)}`);
      seen.add(p);
      const s = await this.read(p);
      if (!s) throw errNotFound(`parent snapshot ${JSON.stringify(p)}`);
      ids.push(s.id);
      p = s.parent;
    }
    return ids;
  }

  private async hasChildren(key: string): Promise<boolean> {
    const { gte, lt } = childRange(key);
    return (await this.range(gte, lt)).size > 0;
  }

  async getInfo(key: string): Promise<Info> {
    return toInfo(key, await this.mustRead(key));
  }

  async getSnapshot(key: string): Promise<SnapshotRecord> {
    const s = await this.mustRead(key);
    return { id: s.id, kind: s.kind, parentIds: await this.parentIds(s.parent) };
  }

  /** The usage recorded at commit (zero for snapshots never committed), with the id. */
  async getRecordedUsage(key: string): Promise<{ id: string; kind: Kind; usage: Usage }> {
    const s = await this.mustRead(key);
    return { id: s.id, kind: s.kind, usage: { size: s.size ?? 0, inodes: s.inodes ?? 0 } };
  }

  /**
   * Records a new Active or View snapshot on top of the committed `parent` and
   * hands out its id.
   */
  async createSnapshot(
    kind: Kind,
    key: string,
    parent: string,
    labels?: Record<string, string>,
  ): Promise<SnapshotRecord> {
    if (kind !== Kind.Active && kind !== Kind.View)
      throw errInvalidArgument(`snapshot kind ${kind} must be active or view`);
    validateKey(key);
    if (await this.read(key)) throw errAlreadyExists(`snapshot ${JSON.stringify(key)}`);
    let parentIds: string[] = [];
    if (parent !== '') {
      validateKey(parent, 'parent key');
      const p = await this.read(parent);
      if (!p) throw errNotFound(`parent snapshot ${JSON.stringify(parent)}`);
      if (p.kind !== Kind.Committed)
        throw errInvalidArgument(`parent ${JSON.stringify(parent)} is not committed snapshot`);
      parentIds = [p.id, ...(await this.parentIds(p.parent))];
      this.put(childKey(parent, key), '');
    }
    const id = String(Number((await this.get(SEQ_KEY)) ?? '0') + 1);
    this.put(SEQ_KEY, id);
    const now = new Date().toISOString();
    this.write(key, { id, kind, parent, labels: compact(labels), created: now, updated: now });
    return { id, kind, parentIds };
  }

  /** Turns the Active `key` into the Committed `name`, keeping its id; returns the id. */
  async commitActive(
    key: string,
    name: string,
    usage: Usage,
    labels?: Record<string, string>,
  ): Promise<string> {
    validateKey(name, 'snapshot name');
    validateKey(key);
    if (await this.read(name)) throw errAlreadyExists(`snapshot ${JSON.stringify(name)}`);
    const s = await this.mustRead(key);
    if (s.kind !== Kind.Active)
      throw errFailedPrecondition(`snapshot ${JSON.stringify(key)} is not active`);
    const now = new Date().toISOString();
    this.del(snapshotKey(key));
    this.write(name, {
      id: s.id,
      kind: Kind.Committed,
      parent: s.parent,
      // Labels are replaced, not inherited from the active snapshot.
      labels: compact(labels),
      created: now,
      updated: now,
      size: usage.size,
      inodes: usage.inodes,
    });
    if (s.parent !== '') {
      this.del(childKey(s.parent, key));
      this.put(childKey(s.parent, name), '');
    }
    return s.id;
  }

  /** Deletes the record; refused while other snapshots use it as their parent. */
  async remove(key: string): Promise<{ id: string; kind: Kind }> {
    const s = await this.mustRead(key);
    if (await this.hasChildren(key))
      throw errFailedPrecondition(`cannot remove snapshot ${JSON.stringify(key)} with child`);
    this.del(snapshotKey(key));
    if (s.parent !== '') this.del(childKey(s.parent, key));
    return { id: s.id, kind: s.kind };
  }

  /** Labels only, with containerd's field paths; `updated` moves to now. */
  async updateInfo(
    info: Pick<Info, 'name'> & Partial<Info>,
    fieldpaths: readonly string[] = [],
  ): Promise<Info> {
    const s = await this.mustRead(info.name);
    const incoming = info.labels ?? {};
    let labels = { ...s.labels };
    if (fieldpaths.length === 0) {
      labels = compact(incoming);
    } else {
      for (const path of fieldpaths) {
        if (path === 'labels') {
          labels = compact(incoming);
        } else if (path.startsWith('labels.')) {
          const k = path.slice('labels.'.length);
          const v = incoming[k];
          if (v === undefined || v === '') delete labels[k];
          else labels[k] = v;
        } else {
          throw errInvalidArgument(
            `cannot update ${JSON.stringify(path)} field on snapshot ${JSON.stringify(info.name)}`,
          );
        }
      }
    }
    const updated = new Date(Math.max(Date.now(), new Date(s.created).getTime())).toISOString();
    const next: StoredSnapshot = { ...s, labels, updated };
    this.write(info.name, next);
    return toInfo(info.name, next);
  }

  /** Every record, in key byte order. */
  async list(): Promise<{ info: Info; id: string }[]> {
    const all = await this.range(SNAPSHOT_PREFIX, SNAPSHOT_PREFIX.slice(0, -1) + '0');
    return [...all].map(([k, raw]) => {
      const name = k.slice(SNAPSHOT_PREFIX.length);
      const s = decodeSnapshot(name, raw);
      return { info: toInfo(name, s), id: s.id };
    });
  }

  /** Ids every record holds: directories outside this set are orphans. */
  async ids(): Promise<Set<string>> {
    return new Set((await this.list()).map((e) => e.id));
  }

  /** Writes every staged change as one synced batch; returns whether anything was written. */
  async commit(): Promise<boolean> {
    if (this.pending.size === 0) return false;
    const ops = [...this.pending].map(([key, value]) =>
      value === null ? { type: 'del' as const, key } : { type: 'put' as const, key, value },
    );
    await this.level.batch(ops, { sync: true });
    this.pending.clear();
    return true;
  }
}
