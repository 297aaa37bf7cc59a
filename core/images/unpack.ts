// Unpacking an image: each layer applied, in order, into a snapshot named by
// its chain ID, so images sharing a base share its snapshots. The steps are
// containerd's, which keeps ctr and berth interchangeable on one daemon:
//
//   Stat(chainID)            exists: another unpack already did this layer
//   Prepare("extract-<random> <chainID>", parent chainID)
//   Apply(layer blob, mounts) → diffID, checked against the image config
//   Commit(chainID, key)     AlreadyExists: a concurrent unpack won; fine
//
// A failed layer removes its extract snapshot, so a corrupt or truncated layer
// never leaves a committed snapshot. Layers of one chain ID are serialised in
// this process, so concurrent unpacks of one image apply each layer once; across
// processes the AlreadyExists rule above keeps the result correct.
//
// The storage is abstract (content, snapshots, applier) so the same steps run
// over the daemon's services from the client library or in-process.

import { randomBytes } from 'node:crypto';
import { BerthError, errCanceled, isAlreadyExists, isNotFound } from '../errors/catalogue.js';
import { KeyedMutex } from '../metadata/keyed-mutex.js';
import { snapshotGCLabel } from './oci/gc-labels.js';
import { Label } from './oci/media-types.js';
import { defaultPlatformMatcher, type PlatformMatcher } from './oci/platform.js';
import { type BlobSource, type ResolvedImage, resolveImage } from './oci/resolve.js';
import type { Descriptor } from './oci/types.js';

export interface UnpackMount {
  type: string;
  source: string;
  target?: string;
  options: string[];
}

/** Content access unpacking needs. */
export interface UnpackContent extends BlobSource {
  /** The blob's labels; NotFound when it is not stored. */
  labels(digest: string): Promise<Record<string, string>>;
  /** Sets the given labels, keeping the others. */
  setLabels(digest: string, labels: Record<string, string>): Promise<void>;
}

/** One snapshotter, in the namespace being unpacked into. */
export interface UnpackSnapshots {
  readonly name: string;
  /**
   * Adds `key` (existing or not yet) to the unpack's lease, so a snapshot
   * found unpacked stays while the unpack builds on it. Optional: without it
   * a collection racing the unpack may take such a snapshot.
   */
  keep?(key: string): Promise<void>;
  /** NotFound when `key` does not exist. */
  stat(key: string): Promise<unknown>;
  prepare(key: string, parent: string, labels?: Record<string, string>): Promise<UnpackMount[]>;
  commit(name: string, key: string, labels?: Record<string, string>): Promise<void>;
  remove(key: string): Promise<void>;
}

/** Applies a layer blob onto mounts; returns the uncompressed digest (diffID). */
export interface LayerApplier {
  apply(
    layer: Descriptor,
    mounts: UnpackMount[],
    signal?: AbortSignal,
  ): Promise<{ digest: string; size: number }>;
}

export interface UnpackDeps {
  content: UnpackContent;
  snapshots: UnpackSnapshots;
  applier: LayerApplier;
}

export interface UnpackOptions {
  platform?: PlatformMatcher;
  /**
   * Distinguishes daemons and namespaces in the in-process chain-ID lock
   * (e.g. `<address>/<namespace>`); unpacks into different stores do not wait
   * on each other.
   */
  scope?: string;
  signal?: AbortSignal;
  /** Called after each layer, applied (true) or found already unpacked (false). */
  onLayer?: (e: { index: number; chainId: string; layer: Descriptor; applied: boolean }) => void;
}

export interface UnpackResult {
  image: ResolvedImage;
  /** Chain ID of the top layer: the parent for a container's snapshot ('' for no layers). */
  chainId: string;
  /** How many layers this call applied (the rest were already unpacked). */
  applied: number;
}

/** containerd's unpack key: unique, and naming the chain ID it becomes. */
export function unpackKey(chainId: string): string {
  return `extract-${randomBytes(6).toString('hex')}-${Date.now()} ${chainId}`;
}

const chainLocks = new KeyedMutex();

async function exists(sn: UnpackSnapshots, key: string): Promise<boolean> {
  try {
    await sn.stat(key);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** Applies one layer as `chainId` on `parent`; false when it was there already. */
async function unpackLayer(
  deps: UnpackDeps,
  layer: Descriptor,
  diffId: string,
  chainId: string,
  parent: string,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const sn = deps.snapshots;
  await sn.keep?.(chainId); // before looking: what is found then stays
  if (await exists(sn, chainId)) return false;
  const key = unpackKey(chainId);
  const mounts = await sn.prepare(key, parent);
  let committed = false;
  try {
    if (signal?.aborted) throw errCanceled('unpack');
    const applied = await deps.applier.apply(layer, mounts, signal);
    if (applied.digest !== diffId) {
      throw new BerthError(
        'DataLoss',
        `layer ${layer.digest}: extracted diff ID ${applied.digest} does not match ${diffId} in the image config: data loss`,
      );
    }
    try {
      await sn.commit(chainId, key);
      committed = true;
    } catch (err) {
      // Another unpack committed the same chain ID first: same content, done.
      if (!isAlreadyExists(err)) throw err;
      return false;
    }
    return true;
  } finally {
    if (!committed) await sn.remove(key).catch(() => undefined);
  }
}

/** Records the layer's diffID on its blob, where containerd's tools look for it. */
async function labelUncompressed(
  content: UnpackContent,
  layer: Descriptor,
  diffId: string,
): Promise<void> {
  const labels = await content.labels(layer.digest);
  if (labels[Label.Uncompressed] !== diffId)
    await content.setLabels(layer.digest, { [Label.Uncompressed]: diffId });
}

/**
 * Unpacks the image whose target is `target` into `deps.snapshots`. Returns the
 * top chain ID. The caller runs this under a lease, so the snapshots and
 * labels it makes survive collection until an image record refers to them.
 */
export async function unpackImage(
  target: Descriptor,
  deps: UnpackDeps,
  opts: UnpackOptions = {},
): Promise<UnpackResult> {
  const image = await resolveImage(deps.content, target, opts.platform ?? defaultPlatformMatcher());
  const { manifest, diffIds, chainIds } = image;
  let applied = 0;
  for (let i = 0; i < manifest.layers.length; i++) {
    if (opts.signal?.aborted) throw errCanceled('unpack');
    const layer = manifest.layers[i]!;
    const chainId = chainIds[i]!;
    const release = await chainLocks.acquire([
      `${opts.scope ?? ''}\0${deps.snapshots.name}\0${chainId}`,
    ]);
    let did: boolean;
    try {
      did = await unpackLayer(
        deps,
        layer,
        diffIds[i]!,
        chainId,
        chainIds[i - 1] ?? '',
        opts.signal,
      );
    } finally {
      release();
    }
    if (did) applied++;
    await labelUncompressed(deps.content, layer, diffIds[i]!);
    opts.onLayer?.({ index: i, chainId, layer, applied: did });
  }
  const top = chainIds.at(-1) ?? '';
  if (top) {
    const key = snapshotGCLabel(deps.snapshots.name);
    const labels = await deps.content.labels(manifest.config.digest);
    if (labels[key] !== top) await deps.content.setLabels(manifest.config.digest, { [key]: top });
  }
  return { image, chainId: top, applied };
}

/** Whether the image's top chain ID exists in the snapshotter. */
export async function isImageUnpacked(
  target: Descriptor,
  deps: Pick<UnpackDeps, 'content' | 'snapshots'>,
  platform: PlatformMatcher = defaultPlatformMatcher(),
): Promise<boolean> {
  const image = await resolveImage(deps.content, target, platform);
  const top = image.chainIds.at(-1);
  return top === undefined ? true : exists(deps.snapshots, top);
}
