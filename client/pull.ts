// Pulling an image from the client, as containerd's client does it: the one
// pull walker (core/images/pull.ts) fetches into the daemon's content store
// through the Content service and records the image, under a lease so a
// collection mid-pull takes nothing; then the image is unpacked.

import { isAlreadyExists, isNotFound } from '../core/errors/catalogue.js';
import {
  allPlatforms,
  defaultPlatformMatcher,
  onlyPlatform,
  parsePlatformSpecifier,
  type PlatformMatcher,
} from '../core/images/oci/platform.js';
import {
  type ImageRecordSink,
  type PullContent,
  type PullResult as WalkResult,
  isIngestBusy,
  pullImage,
  registrySource,
} from '../core/images/pull.js';
import { Repository, type RegistryOptions } from '../core/images/registry/repository.js';
import type { Client } from './client.js';
import { contentOf } from './image-deps.js';
import type { Image } from './images.js';
import { type LeasedClient, withLease } from './leased.js';
import { type ProgressHandler, ProgressReporter } from './transfer-progress.js';
import { unpackWith } from './unpack.js';

export { DEFAULT_MAX_CONCURRENT_DOWNLOADS } from '../core/images/pull.js';
/** Pull leases expire on their own should the client die mid-pull. */
const PULL_LEASE_EXPIRY_MS = 24 * 60 * 60 * 1000;

export interface PullOptions extends RegistryOptions {
  /** `os/arch[/variant]` or a matcher; default: this host's platform. */
  platform?: string | PlatformMatcher;
  /** Fetch every manifest of an index (no unpack of them all). */
  allPlatforms?: boolean;
  maxConcurrentDownloads?: number;
  onProgress?: ProgressHandler;
  /** Labels on the image record. */
  labels?: Record<string, string>;
}

export type PullResult = WalkResult<Image>;

function matcherOf(opts: PullOptions): PlatformMatcher {
  if (opts.allPlatforms) return allPlatforms;
  if (typeof opts.platform === 'string') return onlyPlatform(parsePlatformSpecifier(opts.platform));
  return opts.platform ?? defaultPlatformMatcher();
}

/** The walker's content interface over the Content service, under the client's lease. */
function pullContent(leased: LeasedClient): PullContent {
  const content = leased.content;
  return {
    ...contentOf(leased),
    keep: (digest) => leased.leases.addResource(leased.lease, { id: digest, type: 'content' }),
    ingestOffset: async (ref) => {
      try {
        return Number((await content.status(ref)).offset);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    write: async (ref, desc, data, labels) => {
      try {
        await content.ingest(ref, data(), {
          expectedSize: desc.size,
          expectedDigest: desc.digest,
          labels,
        });
        return true;
      } catch (err) {
        if (isAlreadyExists(err)) return false;
        // A retry starts over; a partial ingest helps nobody.
        if (!isIngestBusy(err)) await content.abort(ref).catch(() => undefined);
        throw err;
      }
    },
  };
}

function imageSink(client: Client): ImageRecordSink<Image> {
  return {
    put: async (record) => {
      try {
        return await client.images.create(record);
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        const labelPaths = Object.keys(record.labels).map((k) => `labels.${k}`);
        return client.images.update(record, ['target', ...labelPaths]);
      }
    },
  };
}

function fetchInLease(
  client: Client,
  leased: LeasedClient,
  repo: Repository,
  opts: PullOptions,
): Promise<PullResult> {
  const progress = new ProgressReporter(opts.onProgress);
  return pullImage(
    registrySource(repo),
    { content: pullContent(leased), images: imageSink(client) },
    {
      platform: matcherOf(opts),
      allPlatforms: opts.allPlatforms,
      maxConcurrentDownloads: opts.maxConcurrentDownloads,
      retry: opts.retry,
      labels: opts.labels,
      signal: opts.signal,
      onProgress: (p) => (p.status === 'downloading' ? progress.bytes(p) : progress.emit(p)),
    },
  );
}

export interface PullAndUnpackOptions extends PullOptions {
  /** Unpack into snapshots (default true). */
  unpack?: boolean;
  /** Snapshotter to unpack into (default overlayfs). */
  snapshotter?: string;
}

export interface PulledImage extends PullResult {
  /** Top chain ID of the unpacked image ('' when not unpacked). */
  chainId: string;
}

/**
 * Fetches `ref` into the client's namespace and records the image under its
 * fully qualified name, without unpacking. Content already stored is not
 * fetched again.
 */
export async function fetchImage(
  client: Client,
  ref: string,
  opts: PullOptions = {},
): Promise<PullResult> {
  const repo = await Repository.open(ref, opts);
  try {
    return await withLease(client, (leased) => fetchInLease(client, leased, repo, opts), {
      expiresInMs: PULL_LEASE_EXPIRY_MS,
    });
  } finally {
    repo.close();
  }
}

/**
 * Pulls `ref`: fetch, record and unpack into the snapshotter, all under one
 * lease so nothing is collected before the image record and the config's
 * snapshot label hold it.
 */
export async function pull(
  client: Client,
  ref: string,
  opts: PullAndUnpackOptions = {},
): Promise<PulledImage> {
  const repo = await Repository.open(ref, opts);
  const progress = new ProgressReporter(opts.onProgress);
  try {
    return await withLease(
      client,
      async (leased) => {
        const r = await fetchInLease(client, leased, repo, opts);
        if (opts.unpack === false) return { ...r, chainId: '' };
        progress.emit({ status: 'unpacking', ref: r.name, mediaType: '', offset: 0, total: 0 });
        const u = await unpackWith(leased, r.target, {
          snapshotter: opts.snapshotter,
          platform: matcherOf({ ...opts, allPlatforms: false }),
          signal: opts.signal,
        });
        progress.emit({ status: 'unpacked', ref: r.name, mediaType: '', offset: 0, total: 0 });
        return { ...r, chainId: u.chainId };
      },
      { expiresInMs: PULL_LEASE_EXPIRY_MS },
    );
  } finally {
    repo.close();
  }
}
