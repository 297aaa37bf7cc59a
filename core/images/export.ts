// Exporting images as one OCI image layout tar: `oci-layout`, an `index.json`
// whose entries are the images' targets annotated with their names (so an
// import gives back the same image records), and every blob they need under
// `blobs/<alg>/<hex>`. With a platform filter only the matching manifests of
// an index are written; the index blob itself is kept as is, as containerd does.

import { BerthError, errNotFound, isNotFound } from '../errors/catalogue.js';
import { parseDigest } from '../content/digest.js';
import { END_OF_ARCHIVE, encodeHeader, padding } from '../diff/tar-writer.js';
import { Annotation, isIndexType, MediaType } from './oci/media-types.js';
import { allPlatforms, type PlatformMatcher } from './oci/platform.js';
import { type BlobSource, childrenOf } from './oci/resolve.js';
import type { Descriptor } from './oci/types.js';

export interface ExportContent extends BlobSource {
  /** The blob's bytes as a stream. NotFound when it is not stored. */
  read(digest: string): AsyncIterable<Uint8Array>;
}

export interface ExportImage {
  name: string;
  target: Descriptor;
}

export interface ExportOptions {
  /** Manifests of indexes to include (default every platform). */
  platform?: PlatformMatcher;
  /** Entry mtime, seconds since the epoch (default 0, for reproducible archives). */
  mtime?: number;
}

/** The tag of a name, for the OCI ref.name annotation; undefined when it has none. */
export function tagOf(name: string): string | undefined {
  const tail = name.slice(name.lastIndexOf('/') + 1).split('@')[0]!;
  const colon = tail.indexOf(':');
  return colon >= 0 && colon < tail.length - 1 ? tail.slice(colon + 1) : undefined;
}

/** Every blob the images need, parents before children, each once. */
export async function exportBlobs(
  content: BlobSource,
  images: readonly ExportImage[],
  matcher: PlatformMatcher,
): Promise<Descriptor[]> {
  const seen = new Map<string, Descriptor>();
  const walk = async (d: Descriptor, depth: number): Promise<void> => {
    if (seen.has(d.digest)) return;
    if (depth > 8)
      throw new BerthError(
        'InvalidArgument',
        `image ${d.digest}: nested too deeply: invalid argument`,
      );
    seen.set(d.digest, d);
    let children: Descriptor[];
    try {
      children = await childrenOf(content, d, isIndexType(d.mediaType) ? matcher : undefined);
    } catch (err) {
      if (isNotFound(err))
        throw errNotFound(`image content ${d.digest} (${d.mediaType}) is missing`, { cause: err });
      throw err;
    }
    for (const c of children) {
      // Foreign layers are not ours to ship.
      if (c.urls?.length) continue;
      await walk(c, depth + 1);
    }
  };
  for (const img of images) await walk(img.target, 0);
  return [...seen.values()];
}

export function exportIndex(images: readonly ExportImage[]): Buffer {
  const manifests = images.map(({ name, target }) => {
    const annotations: Record<string, string> = {
      ...(target.annotations ?? {}),
      [Annotation.ImageName]: name,
    };
    const tag = tagOf(name);
    if (tag) annotations[Annotation.RefName] = tag;
    else delete annotations[Annotation.RefName];
    return { mediaType: target.mediaType, digest: target.digest, size: target.size, annotations };
  });
  return Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCIIndex, manifests }),
  );
}

/** The OCI layout tar of `images`, as a byte stream. */
export async function* exportImages(
  content: ExportContent,
  images: readonly ExportImage[],
  opts: ExportOptions = {},
): AsyncGenerator<Buffer> {
  const mtime = opts.mtime ?? 0;
  const blobs = await exportBlobs(content, images, opts.platform ?? allPlatforms);
  const common = { uid: 0, gid: 0, mtime };
  const file = (name: string, data: Buffer) => [
    ...encodeHeader({ ...common, name, type: 'file', mode: 0o644, size: data.length }),
    data,
    padding(data.length),
  ];
  yield* file('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  yield* file('index.json', exportIndex(images));
  const dirs = new Set<string>();
  for (const d of blobs) {
    const { algorithm, hex } = parseDigest(d.digest);
    for (const dir of ['blobs', `blobs/${algorithm}`]) {
      if (dirs.has(dir)) continue;
      dirs.add(dir);
      yield* encodeHeader({ ...common, name: dir, type: 'dir', mode: 0o755, size: 0 });
    }
    yield* encodeHeader({
      ...common,
      name: `blobs/${algorithm}/${hex}`,
      type: 'file',
      mode: 0o644,
      size: d.size,
    });
    let written = 0;
    for await (const chunk of content.read(d.digest)) {
      written += chunk.length;
      if (written > d.size) break;
      yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    }
    if (written !== d.size)
      throw new BerthError(
        'DataLoss',
        `blob ${d.digest}: stored size differs from the descriptor's ${d.size}: data loss`,
      );
    yield padding(d.size);
  }
  yield END_OF_ARCHIVE;
}
