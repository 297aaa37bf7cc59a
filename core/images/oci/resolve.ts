// Walking an image from its target descriptor through indexes to the one
// manifest for a platform, and from a manifest to its config and layers.
// Blob access is abstract so the daemon (content store) and the client (the
// Content service) share the walk.

import { createHash } from 'node:crypto';
import { BerthError, errNotFound } from '../../errors/catalogue.js';
import { parseDigest } from '../../content/digest.js';
import { chainIds } from './chain-id.js';
import { isConfigType, isIndexType, isManifestType } from './media-types.js';
import { normalizePlatform, type PlatformMatcher } from './platform.js';
import {
  type Descriptor,
  type ImageConfigFile,
  type Index,
  type Manifest,
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  parseImageConfig,
  parseIndex,
  parseManifest,
  type Platform,
} from './types.js';

/** Reads a whole (small) blob by digest. NotFound when it is not stored. */
export interface BlobSource {
  readBlob(digest: string, maxBytes: number): Promise<Buffer>;
}

export interface ResolvedImage {
  /** The image record's target (index or manifest). */
  target: Descriptor;
  /** The manifest chosen for the platform. */
  manifestDesc: Descriptor;
  manifest: Manifest;
  config: ImageConfigFile;
  platform: Platform;
  /** config.rootfs.diff_ids, one per layer. */
  diffIds: string[];
  /** chainIds[i] names the snapshot of layers 0..i. */
  chainIds: string[];
}

/** Reads a document blob, checking its size and digest against the descriptor. */
export async function readDocument(
  src: BlobSource,
  desc: Descriptor,
  max: number,
): Promise<Buffer> {
  if (desc.size > max)
    throw new BerthError(
      'InvalidArgument',
      `${desc.mediaType} ${desc.digest}: size ${desc.size} exceeds the limit of ${max}: invalid argument`,
    );
  let data: Buffer;
  try {
    data = await src.readBlob(desc.digest, max);
  } catch (err) {
    if (err instanceof BerthError && err.code === 'NotFound')
      throw errNotFound(
        `content ${desc.digest} (${desc.mediaType}) referenced by the image is missing`,
        { cause: err },
      );
    throw err;
  }
  const { algorithm } = parseDigest(desc.digest);
  const actual = `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
  if (actual !== desc.digest || data.length !== desc.size)
    throw new BerthError(
      'DataLoss',
      `content ${desc.digest}: stored bytes do not match the descriptor (got ${actual}, ${data.length} bytes): data loss`,
    );
  return data;
}

export async function readIndex(src: BlobSource, desc: Descriptor): Promise<Index> {
  return parseIndex(await readDocument(src, desc, MAX_MANIFEST_BYTES), desc.mediaType);
}

export async function readManifest(src: BlobSource, desc: Descriptor): Promise<Manifest> {
  return parseManifest(await readDocument(src, desc, MAX_MANIFEST_BYTES), desc.mediaType);
}

export async function readConfig(src: BlobSource, desc: Descriptor): Promise<ImageConfigFile> {
  if (!isConfigType(desc.mediaType))
    throw new BerthError(
      'InvalidArgument',
      `config ${desc.digest}: unsupported media type ${desc.mediaType}: invalid argument`,
    );
  return parseImageConfig(await readDocument(src, desc, MAX_CONFIG_BYTES));
}

function configPlatform(c: ImageConfigFile): Platform {
  const p: Platform = { os: c.os, architecture: c.architecture };
  if (c.variant) p.variant = c.variant;
  return normalizePlatform(p);
}

// Nested indexes deeper than this are refused rather than followed.
const MAX_INDEX_DEPTH = 8;

interface Candidate {
  desc: Descriptor;
  manifest: Manifest;
  config: ImageConfigFile;
  platform: Platform;
}

async function candidates(
  src: BlobSource,
  desc: Descriptor,
  matcher: PlatformMatcher,
  depth: number,
  out: Candidate[],
): Promise<void> {
  if (isIndexType(desc.mediaType)) {
    if (depth >= MAX_INDEX_DEPTH)
      throw new BerthError(
        'InvalidArgument',
        `image index ${desc.digest}: nested deeper than ${MAX_INDEX_DEPTH}: invalid argument`,
      );
    const idx = await readIndex(src, desc);
    for (const child of idx.manifests) {
      if (child.platform && !matcher.match(child.platform)) continue;
      if (!isIndexType(child.mediaType) && !isManifestType(child.mediaType)) continue;
      await candidates(src, child, matcher, depth + 1, out);
    }
    return;
  }
  if (!isManifestType(desc.mediaType))
    throw new BerthError(
      'InvalidArgument',
      `${desc.digest}: unexpected media type ${desc.mediaType} for an image: invalid argument`,
    );
  const manifest = await readManifest(src, desc);
  const config = await readConfig(src, manifest.config);
  const platform = desc.platform ? normalizePlatform(desc.platform) : configPlatform(config);
  if (!matcher.match(platform)) return;
  out.push({ desc, manifest, config, platform });
}

/**
 * The manifest of `target` for the best-matching platform, with its config
 * and chain IDs. NotFound when nothing matches; InvalidArgument when the
 * config's diff IDs do not line up with the manifest's layers.
 */
export async function resolveImage(
  src: BlobSource,
  target: Descriptor,
  matcher: PlatformMatcher,
): Promise<ResolvedImage> {
  const found: Candidate[] = [];
  await candidates(src, target, matcher, 0, found);
  if (found.length === 0)
    throw errNotFound(`no match for platform ${matcher.toString()} in image ${target.digest}`);
  // Stable: the first listed wins among equally good platforms.
  const best = found
    .map((c, i) => ({ c, i }))
    .sort((a, b) => matcher.compare(a.c.platform, b.c.platform) || a.i - b.i)[0]!.c;
  const diffIds = best.config.rootfs.diff_ids;
  if (diffIds.length !== best.manifest.layers.length)
    throw new BerthError(
      'InvalidArgument',
      `image ${target.digest}: manifest has ${best.manifest.layers.length} layers but config lists ${diffIds.length} diff IDs: invalid argument`,
    );
  return {
    target,
    manifestDesc: best.desc,
    manifest: best.manifest,
    config: best.config,
    platform: best.platform,
    diffIds: [...diffIds],
    chainIds: chainIds(diffIds),
  };
}

/**
 * The descriptors `desc` refers to: an index's manifests (those for other
 * platforms left out when a matcher is given), a manifest's config and layers.
 */
export async function childrenOf(
  src: BlobSource,
  desc: Descriptor,
  matcher?: PlatformMatcher,
): Promise<Descriptor[]> {
  if (isIndexType(desc.mediaType)) {
    const idx = await readIndex(src, desc);
    return idx.manifests.filter((m) => !matcher || !m.platform || matcher.match(m.platform));
  }
  if (isManifestType(desc.mediaType)) {
    const m = await readManifest(src, desc);
    return [m.config, ...m.layers];
  }
  return [];
}

/** Platforms an image target offers (from index entries, or the manifest's config). */
export async function platformsOf(
  src: BlobSource,
  desc: Descriptor,
  depth = 0,
): Promise<Platform[]> {
  if (isIndexType(desc.mediaType)) {
    if (depth >= MAX_INDEX_DEPTH) return [];
    const out: Platform[] = [];
    for (const m of (await readIndex(src, desc)).manifests) {
      if (m.platform) out.push(normalizePlatform(m.platform));
      else out.push(...(await platformsOf(src, m, depth + 1)));
    }
    return out;
  }
  if (isManifestType(desc.mediaType)) {
    const m = await readManifest(src, desc);
    return [configPlatform(await readConfig(src, m.config))];
  }
  return [];
}
