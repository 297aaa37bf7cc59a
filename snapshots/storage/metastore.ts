import { ClassicLevel } from 'classic-level';
import { BerthError, errUnavailable } from '../../core/errors/catalogue.js';
import { type Level, StoreTx } from './transaction.js';

/**
 * A snapshotter's own record store: one LevelDB database under the
 * snapshotter's root. Writers are serialised; each update commits as one
 * atomic, synced batch, so a crash leaves either all of an operation's
 * records or none of them.
 */
export class MetaStore {
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(private readonly level: Level) {}

  static async open(dir: string): Promise<MetaStore> {
    const level: Level = new ClassicLevel<string, string>(dir, {
      keyEncoding: 'utf8',
      valueEncoding: 'utf8',
    });
    try {
      await level.open();
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code;
      if (code === 'LEVEL_LOCKED')
        throw errUnavailable(`snapshot database ${dir} is in use by another process`, {
          cause: err,
        });
      throw new BerthError('Internal', `open snapshot database ${dir}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return new MetaStore(level);
  }

  /** Reads from one point-in-time view. */
  async view<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    this.assertOpen();
    const snapshot = this.level.snapshot();
    try {
      return await fn(new StoreTx(this.level, snapshot, false));
    } finally {
      await snapshot.close();
    }
  }

  /**
   * Runs fn as the only writer, then commits its staged writes. If fn throws,
   * nothing is written. `afterCommit`-style work (removing directories) belongs
   * after this resolves.
   */
  async update<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    this.assertOpen();
    const run = this.tail.then(async () => {
      const snapshot = this.level.snapshot();
      try {
        const tx = new StoreTx(this.level, snapshot, true);
        const result = await fn(tx);
        await tx.commit();
        return result;
      } finally {
        await snapshot.close();
      }
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    await this.level.close();
  }

  private assertOpen(): void {
    if (this.closed) throw errUnavailable('snapshot database is closed');
  }
}
