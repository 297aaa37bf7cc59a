// Pull-based reader over an async byte source. The tar reader needs exact-size
// reads (512-byte headers) and bounded body streaming; every byte pulled from
// the source goes through `onData` once, which is where the diffID hash and the
// size counter live, so the digest always covers exactly what was consumed.

import { BerthError } from '../errors/catalogue.js';

export class ByteReader {
  private readonly it: AsyncIterator<Buffer>;
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;

  constructor(
    source: AsyncIterable<Buffer | Uint8Array | string>,
    private readonly onData: (chunk: Buffer) => void = () => {},
  ) {
    const inner = source[Symbol.asyncIterator]();
    this.it = {
      next: async () => {
        const r = await inner.next();
        if (r.done) return r;
        const v = r.value;
        return { done: false, value: Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array) };
      },
      return: inner.return ? async (v?: unknown) => inner.return!(v) as never : undefined,
    };
  }

  /** Pulls one more chunk from the source; false at end of stream. */
  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    const r = await this.it.next();
    if (r.done) {
      this.ended = true;
      return false;
    }
    if (r.value.length === 0) return true;
    this.onData(r.value);
    this.chunks.push(r.value);
    this.buffered += r.value.length;
    return true;
  }

  /**
   * Exactly n bytes, or null when the stream ends before any of them.
   * A stream ending part-way through is DataLoss.
   */
  async readExact(n: number, what: string): Promise<Buffer | null> {
    while (this.buffered < n) {
      if (!(await this.pull())) {
        if (this.buffered === 0) return null;
        throw truncated(what);
      }
    }
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      this.consumeFront(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const take = Math.min(c.length, n - off);
      c.copy(out, off, 0, take);
      off += take;
      this.consumeFront(take);
    }
    return out;
  }

  /** Yields exactly n bytes as slices of the source's own chunks (no copies). */
  async *take(n: number, what: string): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.pull())) throw truncated(what);
      const c = this.chunks[0]!;
      const len = Math.min(c.length, left);
      const out = c.subarray(0, len);
      this.consumeFront(len);
      left -= len;
      yield out;
    }
  }

  async skip(n: number, what: string): Promise<void> {
    for await (const _ of this.take(n, what)) void _;
  }

  /** Consumes the rest of the stream (so it is hashed and counted); returns the byte count. */
  async drain(): Promise<number> {
    let n = this.buffered;
    this.chunks.length = 0;
    this.buffered = 0;
    while (await this.pull()) {
      n += this.buffered;
      this.chunks.length = 0;
      this.buffered = 0;
    }
    return n;
  }

  /** Stops the underlying source early (on error), releasing its resources. */
  async close(): Promise<void> {
    this.ended = true;
    try {
      await this.it.return?.();
    } catch {
      // the source's own failure is already being reported by the caller
    }
  }

  private consumeFront(n: number): void {
    const c = this.chunks[0]!;
    if (n === c.length) this.chunks.shift();
    else this.chunks[0] = c.subarray(n);
    this.buffered -= n;
  }
}

function truncated(what: string): BerthError {
  return new BerthError('DataLoss', `layer archive truncated in ${what}: data loss`);
}
