import type { ClassicLevel } from 'classic-level';
import { BerthError, errInvalidArgument } from '../errors/catalogue.js';
import { prefixEnd } from './keys.js';

export type Level = ClassicLevel<string, string>;
type Snapshot = ReturnType<Level['snapshot']>;

export interface RangeOptions {
  /** Start at this key (inclusive) instead of the prefix itself; must lie inside the prefix. */
  gte?: string;
  /** Stop after this many entries. */
  limit?: number;
}

/** Reads from one consistent point-in-time view of the database. */
export interface ReadTx {
  get(key: string): Promise<string | undefined>;
  /** Parse a JSON value; a value that is not JSON is reported as DataLoss. */
  getJSON<T>(key: string): Promise<T | undefined>;
  has(key: string): Promise<boolean>;
  /** Entries under a '/'-terminated prefix, in key byte order. */
  entries(prefix: string, options?: RangeOptions): AsyncGenerator<[string, string]>;
}

/**
 * A read-modify-write transaction: reads see the transaction's own pending
 * writes layered over its snapshot; the writes commit as one atomic, synced
 * LevelDB batch, or not at all.
 */
export interface WriteTx extends ReadTx {
  put(key: string, value: string): void;
  putJSON(key: string, value: unknown): void;
  del(key: string): void;
}

/** What the stores need from the database: a way to run transactions. */
export interface TxRunner {
  view<T>(fn: (tx: ReadTx) => Promise<T>): Promise<T>;
  /** Run `fn` holding the named in-process locks, then commit its writes. */
  update<T>(locks: readonly string[], fn: (tx: WriteTx) => Promise<T>): Promise<T>;
}

export function corrupt(key: string, detail: string, cause?: unknown): BerthError {
  return new BerthError(
    'DataLoss',
    `metadata record ${JSON.stringify(key)} is corrupt: ${detail}`,
    { cause },
  );
}

// LevelDB orders keys by UTF-8 bytes; JavaScript compares UTF-16 code units.
// The two differ for astral characters, so pending keys are merged in byte order.
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

export class Transaction implements WriteTx {
  // key -> new value, or null for a deletion
  private readonly pending = new Map<string, string | null>();

  constructor(
    private readonly level: Level,
    private readonly snapshot: Snapshot,
    private readonly writable: boolean,
  ) {}

  async get(key: string): Promise<string | undefined> {
    const staged = this.pending.get(key);
    if (staged !== undefined) return staged ?? undefined;
    return this.level.get(key, { snapshot: this.snapshot });
  }

  async getJSON<T>(key: string): Promise<T | undefined> {
    const raw = await this.get(key);
    if (raw === undefined) return undefined;
    try {
      return JSON.parse(raw) as T;
    } catch (err) {
      throw corrupt(key, 'not valid JSON', err);
    }
  }

  async has(key: string): Promise<boolean> {
    return (await this.get(key)) !== undefined;
  }

  async *entries(prefix: string, options: RangeOptions = {}): AsyncGenerator<[string, string]> {
    const end = prefixEnd(prefix);
    const start = options.gte ?? prefix;
    if (!start.startsWith(prefix)) {
      throw errInvalidArgument(
        `range start ${JSON.stringify(start)} outside prefix ${JSON.stringify(prefix)}`,
      );
    }
    const limit = options.limit ?? Infinity;
    if (limit <= 0) return;

    const staged = [...this.pending]
      .filter(([k]) => compareKeys(k, start) >= 0 && compareKeys(k, end) < 0)
      .sort(([a], [b]) => compareKeys(a, b));
    let next = 0;
    let emitted = 0;

    const it = this.level.iterator({ gte: start, lt: end, snapshot: this.snapshot });
    try {
      for (;;) {
        const stored = await it.next();
        // Staged keys that sort before the next stored key come first.
        while (
          next < staged.length &&
          (stored === undefined || compareKeys(staged[next]![0], stored[0]) < 0)
        ) {
          const [k, v] = staged[next++]!;
          if (v === null) continue;
          yield [k, v];
          if (++emitted >= limit) return;
        }
        if (stored === undefined) return;
        let [key, value]: [string, string | null] = stored;
        if (next < staged.length && staged[next]![0] === key) value = staged[next++]![1];
        if (value === null) continue;
        yield [key, value];
        if (++emitted >= limit) return;
      }
    } finally {
      await it.close();
    }
  }

  put(key: string, value: string): void {
    this.assertWritable();
    this.pending.set(key, value);
  }

  putJSON(key: string, value: unknown): void {
    this.put(key, JSON.stringify(value));
  }

  del(key: string): void {
    this.assertWritable();
    this.pending.set(key, null);
  }

  /**
   * Write every pending change in one batch. `sync: true` makes LevelDB fsync
   * its log before resolving, so an acknowledged write survives a crash.
   * Returns the keys written.
   */
  async commit(): Promise<string[]> {
    if (this.pending.size === 0) return [];
    const ops = [...this.pending].map(([key, value]) =>
      value === null ? { type: 'del' as const, key } : { type: 'put' as const, key, value },
    );
    await this.level.batch(ops, { sync: true });
    const keys = [...this.pending.keys()];
    this.pending.clear();
    return keys;
  }

  private assertWritable(): void {
    if (!this.writable) throw new Error('write in a read-only metadata transaction');
  }
}
