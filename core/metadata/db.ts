import { ClassicLevel } from 'classic-level';
import { BerthError, errUnavailable } from '../errors/catalogue.js';
import { ContainerStore } from './containers.js';
import { KeyedMutex } from './keyed-mutex.js';
import { scopeOfKey } from './keys.js';
import { NamespaceStore } from './namespaces.js';
import {
  ensureSchema,
  MIGRATIONS,
  type Migration,
  SCHEMA_VERSION,
  type SchemaResult,
} from './schema.js';
import {
  type Level,
  type ReadTx,
  Transaction,
  type TxRunner,
  type WriteTx,
} from './transaction.js';

export interface MetadataDBOptions {
  /** Schema version the code expects; tests use it to simulate older and newer databases. */
  schemaVersion?: number;
  migrations?: readonly Migration[];
}

/** Reported after a commit, once per namespace and resource kind it touched. */
export interface MutationEvent {
  namespace: string;
  kind: string;
}

export type MutationListener = (event: MutationEvent) => void;

/**
 * The daemon's metadata: one LevelDB database, the single source of truth for
 * namespaces, containers and, later, images, leases, content labels and
 * snapshots. Every change is one atomic, synced batch.
 */
export class MetadataDB implements TxRunner {
  readonly namespaces: NamespaceStore;
  readonly containers: ContainerStore;

  private readonly mutex = new KeyedMutex();
  private readonly listeners = new Set<MutationListener>();
  private readonly inflight = new Set<Promise<unknown>>();
  private closed = false;
  private schemaResult: SchemaResult | undefined;

  private constructor(
    private readonly level: Level,
    readonly path: string,
  ) {
    this.namespaces = new NamespaceStore(this);
    this.containers = new ContainerStore(this);
  }

  /**
   * Open (creating if needed) the database in `dir`, stamping or migrating its
   * schema. Refuses a database written by a newer schema version.
   */
  static async open(dir: string, options: MetadataDBOptions = {}): Promise<MetadataDB> {
    const level: Level = new ClassicLevel<string, string>(dir, {
      keyEncoding: 'utf8',
      valueEncoding: 'utf8',
    });
    try {
      await level.open();
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code;
      if (code === 'LEVEL_LOCKED') {
        throw errUnavailable(`metadata database ${dir} is in use by another process`, {
          cause: err,
        });
      }
      throw new BerthError('Internal', `open metadata database ${dir}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const db = new MetadataDB(level, dir);
    try {
      db.schemaResult = await ensureSchema(
        db,
        options.schemaVersion ?? SCHEMA_VERSION,
        options.migrations ?? MIGRATIONS,
      );
    } catch (err) {
      await db.close();
      throw err;
    }
    return db;
  }

  /** The schema version on disk before open, and the migrations open applied. */
  get schema(): SchemaResult {
    return this.schemaResult!;
  }

  async view<T>(fn: (tx: ReadTx) => Promise<T>): Promise<T> {
    return this.track(async () => {
      const snapshot = this.level.snapshot();
      try {
        return await fn(new Transaction(this.level, snapshot, false));
      } finally {
        await snapshot.close();
      }
    });
  }

  async update<T>(locks: readonly string[], fn: (tx: WriteTx) => Promise<T>): Promise<T> {
    return this.track(async () => {
      const release = await this.mutex.acquire(locks);
      let written: string[];
      let result: T;
      try {
        // Snapshot after taking the locks, so it includes every earlier commit
        // to the key space we now own.
        const snapshot = this.level.snapshot();
        try {
          const tx = new Transaction(this.level, snapshot, true);
          result = await fn(tx);
          written = await tx.commit();
        } finally {
          await snapshot.close();
        }
      } finally {
        release();
      }
      this.notify(written);
      return result;
    });
  }

  /** Subscribe to committed changes; returns the unsubscribe function. */
  onMutation(listener: MutationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Wait for running transactions, then close. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inflight]);
    await this.level.close();
  }

  private async track<T>(run: () => Promise<T>): Promise<T> {
    if (this.closed) throw errUnavailable('metadata database is closed');
    const p = run();
    this.inflight.add(p);
    try {
      return await p;
    } finally {
      this.inflight.delete(p);
    }
  }

  private notify(keys: string[]): void {
    if (keys.length === 0 || this.listeners.size === 0) return;
    const seen = new Map<string, MutationEvent>();
    for (const key of keys) {
      const scope = scopeOfKey(key);
      if (scope) seen.set(`${scope.namespace}\0${scope.kind}`, scope);
    }
    for (const event of seen.values()) {
      for (const listener of this.listeners) {
        try {
          listener(event);
        } catch (err) {
          // A listener's failure must not turn a committed write into an error.
          process.emitWarning(`metadata mutation listener failed: ${(err as Error).message}`);
        }
      }
    }
  }
}
