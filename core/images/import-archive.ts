// Reading an image archive in one pass: blobs of an OCI layout
// (`blobs/<alg>/<hex>`) are streamed into the content store, verified against
// their names; the small JSON documents (index.json, oci-layout, docker's
// manifest.json, repositories and configs) are kept in memory; any other file
// (docker-save layer tars) is streamed into the content store under the digest
// it hashes to. Symlinks between archive paths (docker save links repeated
// layers) are recorded and followed when looked up.

import { createHash } from 'node:crypto';
import path from 'node:path';
import { errInvalidArgument, isAlreadyExists } from '../errors/catalogue.js';
import { parseDigest } from '../content/digest.js';
import { ByteReader } from '../diff/byte-reader.js';
import { decompress } from '../diff/decompress.js';
import { readTar } from '../diff/tar-reader.js';
import { MAX_CONFIG_BYTES } from './oci/types.js';

export interface IngestOptions {
  expectedDigest?: string;
  expectedSize?: number;
}

/** Writing blobs during import. */
export interface ArchiveSink {
  /**
   * Writes and commits a blob; returns its digest. Verified against the
   * expectations when given: a mismatch stores nothing and throws.
   * AlreadyExists when the blob is stored already.
   */
  ingest(ref: string, data: AsyncIterable<Uint8Array>, opts: IngestOptions): Promise<string>;
}

export interface ArchiveFile {
  digest: string;
  size: number;
  /** Whether the data starts with the gzip magic; undefined when it was stored already and not read. */
  gzip?: boolean;
}

export interface ReadArchive {
  /** Small JSON documents by archive path. */
  documents: Map<string, Buffer>;
  /** Files streamed into the content store, by archive path. */
  files: Map<string, ArchiveFile>;
  /** Symlinks and hard links: archive path → archive path. */
  links: Map<string, string>;
}

const GZIP_MAGIC = [0x1f, 0x8b];

/** Archive paths as written, cleaned: `./a//b` → `a/b`; null for paths leaving the archive. */
export function cleanArchivePath(name: string): string | null {
  const n = path.posix.normalize(`/${name}`).slice(1).replace(/\/$/, '');
  if (n === '' || n.split('/').includes('..')) return null;
  return n;
}

function isDocument(name: string, size: number): boolean {
  if (size > MAX_CONFIG_BYTES) return false;
  const base = path.posix.basename(name);
  return (
    name === 'index.json' ||
    name === 'oci-layout' ||
    name === 'manifest.json' ||
    name === 'repositories' ||
    base === 'json' ||
    base === 'VERSION' ||
    (base.endsWith('.json') && !name.startsWith('blobs/'))
  );
}

async function collect(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/**
 * Streams the archive (tar, optionally gzip-compressed) into `sink`. `refPrefix`
 * makes ingest refs unique to this import.
 */
export async function readImageArchive(
  source: AsyncIterable<Uint8Array>,
  sink: ArchiveSink,
  refPrefix: string,
): Promise<ReadArchive> {
  const out: ReadArchive = { documents: new Map(), files: new Map(), links: new Map() };
  const { data } = await decompress(source);
  const reader = new ByteReader(data);
  let n = 0;
  try {
    for await (const entry of readTar(reader)) {
      const h = entry.header;
      const name = cleanArchivePath(h.name);
      if (name === null)
        throw errInvalidArgument(
          `image archive entry ${JSON.stringify(h.name)} leaves the archive`,
        );
      if (h.type === 'symlink') {
        const target = cleanArchivePath(path.posix.join(path.posix.dirname(name), h.linkname));
        if (target !== null) out.links.set(name, target);
        continue;
      }
      if (h.type === 'link') {
        const target = cleanArchivePath(h.linkname);
        if (target !== null) out.links.set(name, target);
        continue;
      }
      if (h.type !== 'file') continue;
      if (isDocument(name, h.size)) {
        out.documents.set(name, await collect(entry.body()));
        continue;
      }
      const blob = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(name);
      let expected: string | undefined;
      if (blob) {
        expected = `${blob[1]}:${blob[2]}`;
        try {
          parseDigest(expected);
        } catch (err) {
          throw errInvalidArgument(`image archive blob ${name}: ${(err as Error).message}`);
        }
      }
      // Hash and sniff what goes past, for files that carry no name of their digest.
      const hash = createHash(expected ? parseDigest(expected).algorithm : 'sha256');
      let head: number[] = [];
      const body = entry.body();
      const tapped = (async function* () {
        for await (const c of body) {
          if (head.length < 2) head = [...head, ...c.subarray(0, 2 - head.length)];
          hash.update(c);
          yield c;
        }
      })();
      let digest: string;
      try {
        digest = await sink.ingest(`${refPrefix}-${n++}`, tapped, {
          expectedDigest: expected,
          expectedSize: h.size,
        });
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        if (expected) digest = expected;
        else {
          // Stored already: finish hashing to learn which blob this is.
          for await (const _ of tapped) void _;
          digest = `sha256:${hash.digest('hex')}`;
        }
      }
      const gzip =
        head.length === 2 ? head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1] : undefined;
      out.files.set(name, { digest, size: h.size, gzip });
    }
  } catch (err) {
    await reader.close();
    throw err;
  }
  return out;
}

/** Follows links (a bounded number of hops) to the path that holds the data. */
export function resolveArchivePath(a: ReadArchive, name: string): string {
  let p = cleanArchivePath(name) ?? name;
  for (let i = 0; i < 16 && a.links.has(p); i++) p = a.links.get(p)!;
  return p;
}

/** A buffer as a one-chunk byte stream. */
export async function* bytesOf(data: Uint8Array): AsyncGenerator<Uint8Array> {
  yield data;
}
