// Compression detection by magic number rather than media type: containerd does
// the same, and it lets a layer blob be applied whatever its descriptor claims.

import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { BerthError, errNotImplemented } from '../errors/catalogue.js';

export type Compression = 'none' | 'gzip';

const GZIP = Buffer.from([0x1f, 0x8b]);
const ZSTD = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const XZ = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const BZIP2 = Buffer.from('BZh', 'latin1');

export interface Decompressed {
  compression: Compression;
  data: AsyncIterable<Buffer>;
}

/** Peeks at the first bytes of `input` and returns its uncompressed content. */
export async function decompress(input: AsyncIterable<Buffer | Uint8Array>): Promise<Decompressed> {
  const it = input[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headLen = 0;
  let ended = false;
  while (headLen < 6) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    head.push(b);
    headLen += b.length;
  }
  const peek = Buffer.concat(head);
  const rest: AsyncIterable<Buffer> = {
    async *[Symbol.asyncIterator]() {
      if (peek.length) yield peek;
      if (ended) return;
      try {
        for (;;) {
          const r = await it.next();
          if (r.done) return;
          yield Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
        }
      } finally {
        await it.return?.();
      }
    },
  };

  const starts = (magic: Buffer) =>
    peek.length >= magic.length && peek.subarray(0, magic.length).equals(magic);
  if (starts(ZSTD)) {
    await it.return?.();
    throw errNotImplemented('zstd-compressed layers');
  }
  if (starts(XZ) || starts(BZIP2)) {
    await it.return?.();
    throw errNotImplemented(`${starts(XZ) ? 'xz' : 'bzip2'}-compressed layers`);
  }
  if (starts(GZIP)) return { compression: 'gzip', data: gunzip(rest) };
  return { compression: 'none', data: rest };
}

async function* gunzip(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const src = Readable.from(input, { objectMode: false });
  const z = createGunzip();
  src.on('error', (err) => z.destroy(err));
  src.pipe(z);
  try {
    for await (const chunk of z) yield chunk as Buffer;
  } catch (err) {
    throw isZlibError(err)
      ? new BerthError(
          'DataLoss',
          `layer gzip stream is corrupt or truncated (${(err as Error).message}): data loss`,
          {
            cause: err,
          },
        )
      : err;
  } finally {
    src.unpipe(z);
    src.destroy();
    z.destroy();
  }
}

function isZlibError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}
