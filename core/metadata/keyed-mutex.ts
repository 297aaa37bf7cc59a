// In-process exclusive locks by name. LevelDB has no transactions, so every
// read-modify-write runs under the lock of the key space it touches; a lock
// file elsewhere guarantees one daemon per root, so in-process is enough.

export class KeyedMutex {
  // Tail of each name's queue: resolves when the last queued holder releases.
  private readonly tails = new Map<string, Promise<void>>();

  /**
   * Acquire every named lock (sorted, so overlapping callers cannot deadlock)
   * and resolve with a release function.
   */
  async acquire(names: Iterable<string>): Promise<() => void> {
    const sorted = [...new Set(names)].sort();
    const releases: Array<() => void> = [];
    for (const name of sorted) releases.push(await this.acquireOne(name));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const release of releases.reverse()) release();
    };
  }

  /** Runs `fn` holding the lock of `name`. */
  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire([name]);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Names with a holder or waiters; exposed for tests and introspection. */
  get held(): string[] {
    return [...this.tails.keys()];
  }

  private async acquireOne(name: string): Promise<() => void> {
    const previous = this.tails.get(name) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(name, tail);
    await previous;
    return () => {
      release();
      // Drop the entry once nobody queued behind us, so the map stays small.
      if (this.tails.get(name) === tail) this.tails.delete(name);
    };
  }
}
