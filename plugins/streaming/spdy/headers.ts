import zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './dictionary.js';
import { SpdyProtocolError } from './frames.js';

// SPDY/3 name/value header blocks: a 32-bit pair count, then for each pair a
// 32-bit length + name and a 32-bit length + value; several values of one name
// are joined with NUL. The block travels zlib-compressed, with one compression
// context per direction kept for the whole connection and each block ending on
// a sync flush, so both ends' zlib state must see every block in order.

/** Header names are lowercase on the wire; values split on NUL into a list. */
export type HeaderMap = Record<string, string[]>;

/** Decompressed header blocks larger than this are refused (zlib bombs). */
export const MAX_HEADER_BLOCK = 256 * 1024;

export function encodeHeaderBlock(headers: Record<string, string | string[]>): Buffer {
  const entries = Object.entries(headers);
  const parts: Buffer[] = [];
  const count = Buffer.alloc(4);
  count.writeUInt32BE(entries.length);
  parts.push(count);
  for (const [name, value] of entries) {
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    const v = Buffer.from(Array.isArray(value) ? value.join('\0') : value, 'utf8');
    const ln = Buffer.alloc(4);
    ln.writeUInt32BE(n.length);
    const lv = Buffer.alloc(4);
    lv.writeUInt32BE(v.length);
    parts.push(ln, n, lv, v);
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(raw: Buffer): HeaderMap {
  // No prototype: a peer's header may be named `__proto__` or `constructor`.
  const out: HeaderMap = Object.create(null);
  if (raw.length < 4) throw new SpdyProtocolError('header block too short');
  const count = raw.readUInt32BE(0);
  let off = 4;
  const str = (): string => {
    if (off + 4 > raw.length) throw new SpdyProtocolError('truncated header block');
    const len = raw.readUInt32BE(off);
    off += 4;
    if (off + len > raw.length) throw new SpdyProtocolError('truncated header block');
    const s = raw.toString('utf8', off, off + len);
    off += len;
    return s;
  };
  for (let i = 0; i < count; i++) {
    const name = str().toLowerCase();
    const value = str();
    // Appended one by one: a spread of many NUL-separated values overflows the stack.
    const values = (out[name] ??= []);
    for (const v of value.split('\0')) values.push(v);
  }
  return out;
}

/**
 * One zlib context used for a run of independent inputs, each flushed with
 * Z_SYNC_FLUSH. Calls are serialised so outputs come back in input order.
 */
class ZlibContext {
  private chain: Promise<unknown> = Promise.resolve();
  private chunks: Buffer[] = [];
  private size = 0;
  private failed: Error | undefined;
  private fail: ((err: Error) => void) | undefined;

  constructor(
    private readonly z: zlib.Deflate | zlib.Inflate,
    private readonly maxOutput: number,
  ) {
    z.on('data', (c: Buffer) => {
      if (this.failed) return;
      this.size += c.length;
      if (this.size > this.maxOutput) {
        // Checked as output arrives: a small compressed block may inflate without bound.
        this.chunks = [];
        this.failed = new SpdyProtocolError('header block too large');
        this.fail?.(this.failed);
        this.z.destroy();
        return;
      }
      this.chunks.push(c);
    });
    z.on('error', (err: Error) => {
      this.failed = err;
      this.fail?.(err);
    });
  }

  run(input: Buffer): Promise<Buffer> {
    const step = this.chain.then(
      () =>
        new Promise<Buffer>((resolve, reject) => {
          if (this.failed) return reject(this.failed);
          this.fail = reject;
          this.z.write(input);
          this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
            this.fail = undefined;
            if (this.failed) return reject(this.failed);
            const out = Buffer.concat(this.chunks, this.size);
            this.chunks = [];
            this.size = 0;
            resolve(out);
          });
        }),
    );
    this.chain = step.catch(() => undefined);
    return step;
  }

  close(): void {
    this.z.close();
  }
}

export class HeaderCompressor {
  private readonly ctx = new ZlibContext(
    zlib.createDeflate({ dictionary: SPDY3_DICTIONARY, level: zlib.constants.Z_BEST_COMPRESSION }),
    Number.MAX_SAFE_INTEGER,
  );

  compress(headers: Record<string, string | string[]>): Promise<Buffer> {
    return this.ctx.run(encodeHeaderBlock(headers));
  }

  close(): void {
    this.ctx.close();
  }
}

export class HeaderDecompressor {
  private readonly ctx = new ZlibContext(
    zlib.createInflate({ dictionary: SPDY3_DICTIONARY }),
    MAX_HEADER_BLOCK,
  );

  async decompress(block: Buffer): Promise<HeaderMap> {
    try {
      return decodeHeaderBlock(await this.ctx.run(block));
    } catch (err) {
      if (err instanceof SpdyProtocolError) throw err;
      throw new SpdyProtocolError(`header block: ${(err as Error).message}`);
    }
  }

  close(): void {
    this.ctx.close();
  }
}
