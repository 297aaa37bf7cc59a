// An unbounded single-consumer queue that bridges frame callbacks to
// `for await` loops: stream messages in both the client and the server.

export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter:
    { resolve: (r: IteratorResult<T>) => void; reject: (err: unknown) => void } | undefined;
  private ended = false;
  private failed = false;
  private error: unknown;
  private onReturn: (() => void) | undefined;

  /** @param onReturn runs when the consumer stops iterating early. */
  constructor(onReturn?: () => void) {
    this.onReturn = onReturn;
  }

  get done(): boolean {
    return this.ended;
  }

  /** Returns false when the queue was already ended and the item was dropped. */
  push(item: T): boolean {
    if (this.ended) return false;
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w.resolve({ value: item, done: false });
    } else {
      this.items.push(item);
    }
    return true;
  }

  /** No more items; buffered ones are still delivered. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve({ value: undefined, done: true });
  }

  /** Deliver buffered items, then throw err to the consumer. */
  fail(err: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.failed = true;
    this.error = err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
    if (this.failed) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    if (this.waiter) return Promise.reject(new Error('AsyncQueue supports one reader at a time'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      return: async () => {
        this.items.length = 0;
        this.end();
        const cb = this.onReturn;
        this.onReturn = undefined;
        cb?.();
        return { value: undefined, done: true };
      },
    };
  }
}
