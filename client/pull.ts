// Pulling an image, client side as containerd's client does it: resolve the
// reference on the registry, fetch the index, the manifest for the platform,
// its config and layers into the daemon's content store (under a lease, so a
// collection mid-pull takes nothing), record the image, then unpack it.

import { BerthError, isAlreadyExists, isBerthError, isNotFound } from '../core/errors/catalogue.js';
import { childGCLabels } from '../core/images/oci/gc-labels.js';
import { isIndexType, isManifestType } from '../core/images/oci/media-types.js';
import {
  allPlatforms,
  defaultPlatformMatcher,
  onlyPlatform,
  parsePlatformSpecifier,
  type PlatformMatcher,
} from '../core/images/oci/platform.js';
import {
  type Descriptor,
  MAX_MANIFEST_BYTES,
  parseIndex,
  parseManifest,
} from '../core/images/oci/types.js';
import { isTransient, RetryableError, withRetries } from '../core/images/registry/backoff.js';
import { Limiter } from '../core/images/registry/limiter.js';
import { fetch, fetchManifestBytes } from '../core/images/registry/fetcher.js';
import { Repository, type RegistryOptions } from '../core/images/registry/repository.js';
import { resolve } from '../core/images/registry/resolver.js';
import type { Client } from './client.js';
import type { ContentApi } from './content.js';
import { unpackWith } from './unpack.js';
import { type LeasedClient, withLease } from './leased.js';
import type { Image } from './images.js';
import { type ProgressHandler, ProgressReporter } from './transfer-progress.js';

export const DEFAULT_MAX_CONCURRENT_DOWNLOADS = 3;
/** Pull leases expire on their own should the client die mid-pull. */
const PULL_LEASE_EXPIRY_MS = 24 * 60 * 60 * 1000;
const DISTRIBUTION_SOURCE_LABEL = 'containerd.io/distribution.source';
/** How long to wait on another writer of the same blob before taking over. */
const LOCKED_INGEST_WAIT_MS = 10 * 60 * 1000;

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

export interface PullResult {
  image: Image;
  /** The fully qualified name the image was recorded under. */
  name: string;
  /** Root descriptor (index or manifest). */
  target: Descriptor;
  /** Blobs fetched from the registry (others were already stored). */
  fetched: number;
}

function matcherOf(opts: PullOptions): PlatformMatcher {
  if (opts.allPlatforms) return allPlatforms;
  if (typeof opts.platform === 'string') return onlyPlatform(parsePlatformSpecifier(opts.platform));
  return opts.platform ?? defaultPlatformMatcher();
}

function ingestRef(desc: Descriptor): string {
  const kind = isIndexType(desc.mediaType)
    ? 'index'
    : isManifestType(desc.mediaType)
      ? 'manifest'
      : 'blob';
  return `${kind}-${desc.digest}`;
}

async function readStored(
  content: ContentApi,
  digest: string,
  max: number,
): Promise<Buffer | undefined> {
  try {
    const info = await content.info(digest);
    if (info.size > max) return undefined;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  const parts: Uint8Array[] = [];
  for await (const c of content.read(digest)) parts.push(c);
  return Buffer.concat(parts);
}

class Puller {
  private readonly limiter: Limiter;
  private readonly progress: ProgressReporter;
  private readonly matcher: PlatformMatcher;
  private readonly sourceLabel: Record<string, string>;
  fetched = 0;
  /** The first failure; downloads not yet started are skipped after it. */
  private failure: unknown;

  constructor(
    private readonly repo: Repository,
    private readonly content: ContentApi,
    private readonly opts: PullOptions,
  ) {
    this.limiter = new Limiter(opts.maxConcurrentDownloads ?? DEFAULT_MAX_CONCURRENT_DOWNLOADS);
    this.progress = new ProgressReporter(opts.onProgress);
    this.matcher = matcherOf(opts);
    this.sourceLabel = { [`${DISTRIBUTION_SOURCE_LABEL}.${repo.ref.domain}`]: repo.ref.path };
  }

  /** Fetches `desc` and everything under it for the platform. */
  async walk(desc: Descriptor): Promise<void> {
    if (!isIndexType(desc.mediaType) && !isManifestType(desc.mediaType)) {
      await this.blob(desc);
      return;
    }
    const stored = await readStored(this.content, desc.digest, MAX_MANIFEST_BYTES);
    const data = stored ?? (await this.limiter.run(() => fetchManifestBytes(this.repo, desc)));
    let children: Descriptor[];
    if (isIndexType(desc.mediaType)) {
      const index = parseIndex(data, desc.mediaType);
      children = this.select(index.manifests, desc);
    } else {
      const m = parseManifest(data, desc.mediaType);
      children = [m.config, ...m.layers];
    }
    const labels = { ...childGCLabels(children), ...this.sourceLabel };
    if (stored) {
      await this.content.setLabels(desc.digest, labels);
      this.progress.emit({
        status: 'exists',
        ref: desc.digest,
        mediaType: desc.mediaType,
        offset: desc.size,
        total: desc.size,
      });
    } else {
      await this.content.ingest(
        ingestRef(desc),
        (async function* () {
          yield data;
        })(),
        {
          expectedSize: desc.size,
          expectedDigest: desc.digest,
          labels,
        },
      );
      this.fetched++;
      this.progress.emit({
        status: 'done',
        ref: desc.digest,
        mediaType: desc.mediaType,
        offset: desc.size,
        total: desc.size,
      });
    }
    // Settle every child before failing, so no write is left running past
    // the pull (and its lease); children not yet started give up at once.
    const results = await Promise.allSettled(children.map((c) => this.walk(c)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      this.failure ??= failed.reason;
      throw failed.reason;
    }
  }

  /** The manifests of an index this pull wants: the best match, or all of them. */
  private select(manifests: Descriptor[], index: Descriptor): Descriptor[] {
    if (this.opts.allPlatforms) return manifests;
    const candidates = manifests
      .filter((m) => !m.platform || this.matcher.match(m.platform))
      .sort((a, b) =>
        a.platform && b.platform
          ? this.matcher.compare(a.platform, b.platform)
          : a.platform
            ? -1
            : 1,
      );
    if (candidates.length === 0) {
      const have = manifests
        .map((m) =>
          m.platform
            ? [m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join('/')
            : '?',
        )
        .join(', ');
      throw new BerthError(
        'NotFound',
        `no manifest for platform ${this.matcher} in index ${index.digest} (it has ${have || 'none'})`,
      );
    }
    return [candidates[0]!];
  }

  private async blob(desc: Descriptor): Promise<void> {
    const p = { ref: desc.digest, mediaType: desc.mediaType, total: desc.size };
    this.progress.emit({ ...p, status: 'waiting', offset: 0 });
    await this.limiter.run(async () => {
      if (this.failure) throw this.failure;
      if (await this.exists(desc)) {
        this.progress.emit({ ...p, status: 'exists', offset: desc.size });
        return;
      }
      await withRetries(
        () => this.download(desc),
        { ...this.opts.retry, signal: this.opts.signal },
        (err) => isTransient(err) || isBerthError(err, 'DataLoss'),
      );
      this.fetched++;
      this.progress.emit({ ...p, status: 'done', offset: desc.size });
    });
  }

  /** True (and labelled with this source) when the store has the blob already. */
  private async exists(desc: Descriptor): Promise<boolean> {
    try {
      const info = await this.content.info(desc.digest);
      const key = Object.keys(this.sourceLabel)[0]!;
      const repos = new Set((info.labels[key] ?? '').split(',').filter(Boolean));
      if (!repos.has(this.repo.ref.path)) {
        repos.add(this.repo.ref.path);
        await this.content.setLabels(desc.digest, { [key]: [...repos].sort().join(',') });
      }
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  private async download(desc: Descriptor): Promise<void> {
    const { stream } = await fetch(this.repo, desc);
    const progress = this.progress;
    let offset = 0;
    async function* counted() {
      for await (const chunk of stream) {
        offset += chunk.length;
        progress.bytes({
          status: 'downloading',
          ref: desc.digest,
          mediaType: desc.mediaType,
          offset,
          total: desc.size,
        });
        yield chunk;
      }
    }
    try {
      await this.content.ingest(ingestRef(desc), counted(), {
        expectedSize: desc.size,
        expectedDigest: desc.digest,
        labels: this.sourceLabel,
      });
    } catch (err) {
      if (!isBerthError(err, 'Unavailable') || !/locked/.test(err.message)) {
        // A retry starts over; a partial ingest helps nobody.
        await this.content.abort(ingestRef(desc)).catch(() => undefined);
        throw err;
      }
      // Another pull is writing this blob: let it finish rather than fight it.
      await stream[Symbol.asyncIterator]().return?.();
      await this.awaitOtherWriter(desc);
    }
  }

  /** Waits while another writer holds the blob's ingest; retried if it gives up. */
  private async awaitOtherWriter(desc: Descriptor): Promise<void> {
    const deadline = Date.now() + LOCKED_INGEST_WAIT_MS;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      if (await this.exists(desc)) return;
      try {
        await this.content.status(ingestRef(desc));
      } catch (err) {
        if (isNotFound(err)) break; // the other writer is gone
        throw err;
      }
    }
    throw new RetryableError(`${desc.digest}: another writer held the ingest and did not finish`);
  }
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

async function fetchInLease(
  client: Client,
  leased: LeasedClient,
  repo: Repository,
  ref: string,
  opts: PullOptions,
): Promise<PullResult> {
  const progress = new ProgressReporter(opts.onProgress);
  progress.emit({ status: 'resolving', ref, mediaType: '', offset: 0, total: 0 });
  const resolved = await resolve(repo);
  const target = resolved.descriptor;
  progress.emit({
    status: 'resolved',
    ref: resolved.name,
    mediaType: target.mediaType,
    offset: 0,
    total: target.size,
  });
  const puller = new Puller(repo, leased.content, opts);
  await puller.walk(target);
  const record = {
    name: resolved.name,
    target: { mediaType: target.mediaType, digest: target.digest, size: target.size },
    labels: opts.labels ?? {},
  };
  let image: Image;
  try {
    image = await client.images.create(record);
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    const labelPaths = Object.keys(record.labels).map((k) => `labels.${k}`);
    image = await client.images.update(record, ['target', ...labelPaths]);
  }
  return { image, name: resolved.name, target, fetched: puller.fetched };
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
    return await withLease(client, (leased) => fetchInLease(client, leased, repo, ref, opts), {
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
        const r = await fetchInLease(client, leased, repo, ref, opts);
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
