// Importing image archives (OCI image layouts and `docker save` tarballs):
// blobs into the content store, the GC reference labels containerd sets on
// index and manifest blobs, then one image record per named entry of the
// archive's index. Unpacking is a separate step (unpack.ts) so callers choose
// the snapshotter and whether to unpack at all.
//
// Naming follows ctr: an entry's `io.containerd.image.name` annotation is its
// name; otherwise its `org.opencontainers.image.ref.name`, which, when it is
// only a tag, is appended to the base name (`--base-name`); `--index-name`
// names the whole index.

import { createHash } from 'node:crypto';
import { errInvalidArgument, errNotFound, isAlreadyExists } from '../errors/catalogue.js';
import { type ArchiveSink, bytesOf, readImageArchive, type ReadArchive } from './import-archive.js';
import { dockerArchiveIndex } from './import-docker.js';
import { childGCLabels } from './oci/gc-labels.js';
import { Annotation, isIndexType, MediaType } from './oci/media-types.js';
import { allPlatforms, defaultPlatformMatcher, type PlatformMatcher } from './oci/platform.js';
import { type BlobSource, childrenOf } from './oci/resolve.js';
import { type Descriptor, type Index, parseIndex, parseJsonDocument } from './oci/types.js';

export interface ImportContent extends ArchiveSink, BlobSource {
  /** Whether the namespace has the blob. */
  has(digest: string): Promise<boolean>;
  /** Sets the given labels on a blob, keeping the others. */
  setLabels(digest: string, labels: Record<string, string>): Promise<void>;
  /** The first `n` bytes of a blob. */
  peek(digest: string, n: number): Promise<Buffer>;
}

export interface ImportImages {
  /** Creates the image, or points an existing one at `target`. */
  put(name: string, target: Descriptor): Promise<void>;
}

export interface ImportOptions {
  /** Prefix for entries named only by a tag: `<baseName>:<tag>`. */
  baseName?: string;
  /** Also create an image with this name for the archive's whole index. */
  indexName?: string;
  /** Platforms whose manifests are checked and labelled (default: this host's). */
  platform?: PlatformMatcher;
  allPlatforms?: boolean;
  /** Prefix of the content ingest refs (unique per import). */
  refPrefix?: string;
}

export interface ImportedImage {
  name: string;
  target: Descriptor;
}

/** A name for an index entry, or undefined if it has none usable. */
export function entryName(d: Descriptor, baseName?: string): string | undefined {
  const a = d.annotations ?? {};
  const full = a[Annotation.ImageName];
  if (full) return full;
  const ref = a[Annotation.RefName];
  if (!ref) return undefined;
  // A bare tag (OCI layout convention) needs the base name; anything with a
  // repository part is a name of its own.
  const isTag = /^[\w][\w.-]{0,127}$/.test(ref);
  if (isTag) return baseName ? `${baseName}:${ref}` : undefined;
  return ref;
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * Checks every blob the image needs is stored (NotFound naming the first
 * missing one) and sets the children labels on its index and manifest blobs.
 */
export async function verifyAndLabel(
  content: ImportContent,
  desc: Descriptor,
  matcher: PlatformMatcher,
  parent?: Descriptor,
  depth = 0,
): Promise<void> {
  if (depth > 8) throw errInvalidArgument(`image ${desc.digest}: nested too deeply`);
  if (!(await content.has(desc.digest))) {
    // Foreign layers are fetched from their URLs when needed, never shipped.
    if (desc.urls?.length) return;
    throw errNotFound(
      `blob ${desc.digest} (${desc.mediaType})${parent ? ` referenced by ${parent.digest}` : ''} is not in the archive`,
    );
  }
  const children = await childrenOf(
    content,
    desc,
    isIndexType(desc.mediaType) ? matcher : undefined,
  );
  if (children.length === 0) return;
  await content.setLabels(desc.digest, childGCLabels(children));
  for (const c of children) await verifyAndLabel(content, c, matcher, desc, depth + 1);
}

function ociIndex(archive: ReadArchive): { index: Index; raw: Buffer } {
  const layout = archive.documents.get('oci-layout');
  if (layout) {
    const o = parseJsonDocument(layout, 'oci-layout', 1 << 16);
    if (o.imageLayoutVersion !== '1.0.0')
      throw errInvalidArgument(
        `oci-layout: unsupported imageLayoutVersion ${JSON.stringify(o.imageLayoutVersion)}`,
      );
  }
  const raw = archive.documents.get('index.json')!;
  return { index: parseIndex(raw), raw };
}

/** Reads `source` (a tar stream) into the content store and creates its images. */
export async function importImages(
  source: AsyncIterable<Uint8Array>,
  content: ImportContent,
  images: ImportImages,
  opts: ImportOptions = {},
): Promise<ImportedImage[]> {
  const refPrefix = opts.refPrefix ?? `import-${Date.now()}`;
  const matcher = opts.allPlatforms ? allPlatforms : (opts.platform ?? defaultPlatformMatcher());
  const archive = await readImageArchive(source, content, refPrefix);

  let index: Index;
  let indexBlob: Buffer;
  if (archive.documents.has('index.json')) {
    const r = ociIndex(archive);
    index = r.index;
    indexBlob = r.raw;
  } else if (archive.documents.has('manifest.json') || archive.documents.has('repositories')) {
    index = await dockerArchiveIndex(
      archive,
      { sink: content, peek: (d, n) => content.peek(d, n) },
      refPrefix,
    );
    indexBlob = Buffer.from(JSON.stringify(index));
  } else {
    throw errInvalidArgument(
      'not an image archive: neither index.json (OCI layout) nor manifest.json (docker save) found',
    );
  }

  const named: ImportedImage[] = [];
  for (const m of index.manifests) {
    await verifyAndLabel(content, m, matcher);
    const name = entryName(m, opts.baseName);
    if (name) named.push({ name, target: m });
  }
  if (opts.indexName) {
    const digest = sha256(indexBlob);
    const target: Descriptor = {
      mediaType: index.mediaType ?? MediaType.OCIIndex,
      digest,
      size: indexBlob.length,
    };
    try {
      await content.ingest(`${refPrefix}-index`, bytesOf(indexBlob), {
        expectedDigest: digest,
        expectedSize: indexBlob.length,
      });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    await verifyAndLabel(content, target, matcher);
    named.push({ name: opts.indexName, target });
  }
  if (named.length === 0) {
    throw errInvalidArgument(
      'the archive names no images (no io.containerd.image.name or full org.opencontainers.image.ref.name annotations): use --base-name or --index-name',
    );
  }
  for (const img of named) {
    const { platform: _p, urls: _u, ...target } = img.target;
    await images.put(img.name, target);
  }
  return named;
}
