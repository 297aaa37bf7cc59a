// Produces layer blobs: the changes between two directories (lower, the
// committed parent's view, and upper, the changed tree) as an OCI layer tar,
// optionally gzip-compressed, with the digests of both forms computed on the
// way out. Output is deterministic for the same trees: entries in sorted order,
// no host-dependent header fields, optional fixed mtime, and Node's zlib, which
// writes a fixed gzip header (no name, mtime 0) and is deterministic per level.

import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { errFailedPrecondition } from '../errors/catalogue.js';
import { changes } from './changes.js';
import { headerFor } from './entry-header.js';
import { END_OF_ARCHIVE, encodeHeader, padding } from './tar-writer.js';

export const MEDIA_TYPE_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const MEDIA_TYPE_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface DiffOptions {
  /** Default gzip. */
  compression?: 'gzip' | 'none';
  /** zlib level for gzip, default 6 (zlib's own default). */
  gzipLevel?: number;
  /** Written as every entry's mtime (seconds since the epoch) instead of the files' own. */
  mtime?: number;
  signal?: AbortSignal;
}

export interface DiffResult {
  mediaType: string;
  /** Digest and size of the blob as written (compressed when gzip). */
  digest: string;
  size: number;
  /** Digest and size of the uncompressed tar: the layer's diffID. */
  diffId: string;
  uncompressedSize: number;
}

/** Data is read in pieces this large, so big files never sit whole in memory. */
const READ_CHUNK = 1 << 20;

/** The changes from `lower` to `upper` as a layer written to `out` (a path or stream). */
export async function writeDiff(
  lower: string | null,
  upper: string,
  out: string | Writable,
  opts: DiffOptions = {},
): Promise<DiffResult> {
  const gzip = (opts.compression ?? 'gzip') === 'gzip';
  const tarHash = createHash('sha256');
  const blobHash = createHash('sha256');
  const counts = { tar: 0, blob: 0 };

  const tar = Readable.from(layerTar(lower, upper, opts, tarHash, counts), { objectMode: false });
  const tap = hashing(blobHash, (n) => (counts.blob += n));
  const sink = typeof out === 'string' ? fs.createWriteStream(out) : out;
  const stages = gzip
    ? [tar, createGzip({ level: opts.gzipLevel ?? 6 }), tap, sink]
    : [tar, tap, sink];
  await pipeline(stages as [Readable, ...Writable[]], { signal: opts.signal });

  return {
    mediaType: gzip ? MEDIA_TYPE_LAYER_GZIP : MEDIA_TYPE_LAYER,
    digest: `sha256:${blobHash.digest('hex')}`,
    size: counts.blob,
    diffId: `sha256:${tarHash.digest('hex')}`,
    uncompressedSize: counts.tar,
  };
}

/** A single base layer holding everything in `dir`. */
export function tarDirectory(
  dir: string,
  out: string | Writable,
  opts: DiffOptions = {},
): Promise<DiffResult> {
  return writeDiff(null, dir, out, opts);
}

async function* layerTar(
  lower: string | null,
  upper: string,
  opts: DiffOptions,
  hash: Hash,
  counts: { tar: number },
): AsyncGenerator<Buffer> {
  const emit = (b: Buffer) => {
    hash.update(b);
    counts.tar += b.length;
    return b;
  };
  // first archived path of each multiply-linked inode, for hard link entries
  const linked = new Map<string, string>();

  for (const change of changes(lower, upper)) {
    if (change.kind === 'whiteout') {
      const slash = change.name.lastIndexOf('/');
      const name = `${change.name.slice(0, slash + 1)}.wh.${change.name.slice(slash + 1)}`;
      for (const b of encodeHeader({
        name,
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: 0,
        mtime: opts.mtime ?? 0,
      }))
        yield emit(b);
      continue;
    }
    const h = headerFor(change.path, change.name, change.meta, opts.mtime);
    if (!h) continue;
    if (h.type === 'file' && change.meta.nlink > 1) {
      const first = linked.get(change.meta.inode);
      if (first !== undefined) {
        for (const b of encodeHeader({
          ...h,
          type: 'link',
          linkname: first,
          size: 0,
          xattrs: undefined,
        }))
          yield emit(b);
        continue;
      }
      linked.set(change.meta.inode, change.name);
    }
    for (const b of encodeHeader(h)) yield emit(b);
    if (h.type === 'file' && h.size > 0) {
      for await (const b of fileData(change.path, h.size, change.name)) yield emit(b);
      yield emit(padding(h.size));
    }
  }
  yield emit(END_OF_ARCHIVE);
}

/** Exactly `size` bytes of the file; a file that changed size while being read is an error. */
async function* fileData(p: string, size: number, name: string): AsyncGenerator<Buffer> {
  const fh = await fs.promises.open(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    let left = size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(left, READ_CHUNK));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0)
        throw errFailedPrecondition(`${JSON.stringify(name)} shrank while the layer was written`);
      left -= bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

function hashing(hash: Hash, count: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      count(chunk.length);
      cb(null, chunk);
    },
  });
}
