import { Writable } from 'node:stream';

/**
 * Stands between the runtime and a client output stream. The runtime may keep
 * writing after the session ended (a background child still holds the pipe), so
 * once sealed the gate swallows writes instead of failing them, and a client that
 * went away does not stall the runtime's pipe either.
 */
export class OutputGate extends Writable {
  private sealed = false;
  private pending: (() => void) | undefined;
  /** Resolves when the runtime ended the stream and everything was handed on. */
  readonly finished: Promise<void>;

  constructor(private readonly target: Writable) {
    super({ highWaterMark: 64 * 1024 });
    this.finished = new Promise((resolve) => this.once('finish', () => resolve()));
    target.on('close', () => this.seal());
    target.on('error', () => this.seal());
    this.on('error', () => undefined);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.sealed) return cb();
    if (this.target.write(chunk)) return cb();
    this.pending = cb;
    this.target.once('drain', () => this.release());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.seal();
    cb();
  }

  /** Ends the client stream; later writes are dropped. */
  seal(): void {
    if (this.sealed) return;
    this.sealed = true;
    this.release();
    if (!this.target.writableEnded && !this.target.destroyed) this.target.end();
  }

  private release(): void {
    const cb = this.pending;
    this.pending = undefined;
    cb?.();
  }
}
