// The one pull walker, shared by the client library and the daemon's CRI:
// resolve a reference, then fetch the index, the manifest for the platform,
// its config and layers into a content store, and record the image. Storage
// is a small interface (the client's Content service or the daemon's local
// store implement it), and so is the registry side, so the walk is tested on
// fakes.
//
// Order: children before parents, as containerd writes them. A parent is
// committed last, with the gc.ref labels naming its children, so a crash never
// leaves a stored parent whose children are missing; until then the caller's
// lease keeps the children.
//
// Concurrency: a blob another pull is writing (its ingest ref is locked) is
// waited for and then used, as containerd does; the wait gives up only when
// that writer stops making progress. Every object is added to the pull's
// lease before the walk looks for it in the store, so a collection running
// meanwhile takes nothing the pull goes on to use. Transfers that fail midway
// are retried with backoff.

import { BerthError, isBerthError, isNotFound } from '../errors/catalogue.js';
import { childGCLabels } from './oci/gc-labels.js';
import { isIndexType, isManifestType } from './oci/media-types.js';
import type { PlatformMatcher } from './oci/platform.js';
import { readDocument } from './oci/resolve.js';
import { type Descriptor, MAX_MANIFEST_BYTES, parseIndex, parseManifest } from './oci/types.js';
import { type RetryOptions, isTransient, withRetries } from './registry/backoff.js';
import { fetch, fetchManifestBytes } from './registry/fetcher.js';
import { Limiter } from './registry/limiter.js';
import type { Repository } from './registry/repository.js';
import { resolve } from './registry/resolver.js';
import { StallError } from './registry/transport.js';
import type { UnpackContent } from './unpack.js';
import { countPulledBytes } from './pull-channel.js';

export const DEFAULT_MAX_CONCURRENT_DOWNLOADS = 3;
/** Per registry domain, the repositories a blob was pulled from (comma-separated). */
export const DISTRIBUTION_SOURCE_LABEL = 'containerd.io/distribution.source';
/** How long another writer of a blob may go without progress before the wait gives up. */
const DEFAULT_WRITER_STALL_MS = 60_000;
const BUSY_POLL_FIRST_MS = 20;
const BUSY_POLL_MAX_MS = 1_000;

/** The registry side of a pull: one repository. */
export interface PullSource {
  /** Registry domain and repository path, for the distribution source label. */
  readonly domain: string;
  readonly path: string;
  /** The fully qualified name and the root descriptor (index or manifest). */
  resolve(): Promise<{ name: string; descriptor: Descriptor }>;
  /** A manifest or index, verified against its digest. */
  fetchManifest(desc: Descriptor): Promise<Buffer>;
  /** A blob's bytes; the stream fails on a short body or a stall. */
  fetchBlob(desc: Descriptor): Promise<AsyncIterable<Uint8Array>>;
}

/**
 * The content store of the pull's namespace, under the pull's lease (so what
 * it writes is kept until an image record refers to it).
 */
export interface PullContent extends UnpackContent {
  /**
   * Writes `data()` into the ingest `ref` and commits it as `desc` (size and
   * digest verified) with `labels`. Resolves false when the store has the blob
   * already (nothing is read from `data` then). Another writer holding `ref`
   * is an Unavailable error for which isIngestBusy is true. On any other
   * failure nothing of the ingest is left.
   */
  write(
    ref: string,
    desc: Descriptor,
    data: () => AsyncIterable<Uint8Array>,
    labels: Record<string, string>,
  ): Promise<boolean>;
  /** Bytes written so far into the ingest `ref`; undefined when there is none. */
  ingestOffset(ref: string): Promise<number | undefined>;
  /** Adds a blob, stored or not (yet), to the pull's lease. */
  keep(digest: string): Promise<void>;
}

export interface ImageRecord {
  name: string;
  target: Descriptor;
  labels: Record<string, string>;
}

/** Where the pulled image is recorded: create, or replace target and these labels. */
export interface ImageRecordSink<T> {
  put(record: ImageRecord): Promise<T>;
}

export type PullStatus = 'resolving' | 'resolved' | 'waiting' | 'downloading' | 'exists' | 'done';

export interface PullProgress {
  status: PullStatus;
  /** A digest, or the reference while resolving. */
  ref: string;
  mediaType: string;
  offset: number;
  total: number;
}

export interface PullWalkOptions {
  platform: PlatformMatcher;
  /** Every manifest of an index instead of the best match for the platform. */
  allPlatforms?: boolean;
  maxConcurrentDownloads?: number;
  /** Retries of a transfer that fails midway (attempts, delays). */
  retry?: RetryOptions;
  /** How long another writer of a blob may go without progress (default 60 s). */
  writerStallMs?: number;
  /** Labels on the image record. */
  labels?: Record<string, string>;
  /** Called synchronously on every change; 'downloading' comes once per chunk. */
  onProgress?: (p: PullProgress) => void;
  signal?: AbortSignal;
}

export interface PullResult<T> {
  image: T;
  /** The fully qualified name the image was recorded under. */
  name: string;
  /** Root descriptor (index or manifest). */
  target: Descriptor;
  /** Blobs fetched from the registry (the others were stored already). */
  fetched: number;
}

/** The ingest the local store reports as held by another writer. */
export function isIngestBusy(err: unknown): boolean {
  return isBerthError(err, 'Unavailable') && /\blocked\b/.test(err.message);
}

/** A transfer worth another attempt: dropped connections, short or stalled bodies. */
function isRetryableTransfer(err: unknown): boolean {
  return isTransient(err) || isBerthError(err, 'DataLoss') || err instanceof StallError;
}

/** containerd's ingest refs: one per object, so concurrent pulls of it meet on the lock. */
export function ingestRef(desc: Descriptor): string {
  const kind = isIndexType(desc.mediaType)
    ? 'index'
    : isManifestType(desc.mediaType)
      ? 'manifest'
      : 'blob';
  return `${kind}-${desc.digest}`;
}

/** The registry behind a Repository. */
export function registrySource(repo: Repository): PullSource {
  return {
    domain: repo.ref.domain,
    path: repo.ref.path,
    resolve: async () => {
      const r = await resolve(repo);
      return { name: r.name, descriptor: r.descriptor };
    },
    fetchManifest: (desc) => fetchManifestBytes(repo, desc),
    fetchBlob: async (desc) => (await fetch(repo, desc)).stream,
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res, rej) => {
    if (signal?.aborted) return rej(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      res();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      rej(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function* once(data: Buffer): AsyncGenerator<Uint8Array> {
  yield data;
}

function platformList(manifests: Descriptor[]): string {
  return manifests
    .map((m) =>
      m.platform
        ? [m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join('/')
        : '?',
    )
    .join(', ');
}

class Walker {
  private readonly limiter: Limiter;
  private readonly sourceKey: string;
  fetched = 0;
  /** The first failure; downloads not yet started give up at once after it. */
  private failure: unknown;

  constructor(
    private readonly source: PullSource,
    private readonly content: PullContent,
    private readonly opts: PullWalkOptions,
  ) {
    this.limiter = new Limiter(opts.maxConcurrentDownloads ?? DEFAULT_MAX_CONCURRENT_DOWNLOADS);
    this.sourceKey = `${DISTRIBUTION_SOURCE_LABEL}.${source.domain}`;
  }

  private progress(status: PullStatus, desc: Descriptor, offset: number): void {
    this.opts.onProgress?.({
      status,
      ref: desc.digest,
      mediaType: desc.mediaType,
      offset,
      total: desc.size,
    });
  }

  private retried<T>(fn: () => Promise<T>): Promise<T> {
    return withRetries(fn, { ...this.opts.retry, signal: this.opts.signal }, isRetryableTransfer);
  }

  /**
   * The stored blob's labels (undefined when it is not stored), the blob
   * leased first: one the collector has not taken by then is kept until the
   * pull ends, one it took is fetched again.
   */
  private async hold(digest: string): Promise<Record<string, string> | undefined> {
    await this.content.keep(digest);
    return this.stored(digest);
  }

  /** The stored blob's labels, or undefined when it is not stored. */
  private async stored(digest: string): Promise<Record<string, string> | undefined> {
    try {
      return await this.content.labels(digest);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** The source label with this repository added to the ones `labels` names. */
  private sourceLabel(labels: Record<string, string> = {}): Record<string, string> {
    const repos = new Set((labels[this.sourceKey] ?? '').split(',').filter(Boolean));
    repos.add(this.source.path);
    return { [this.sourceKey]: [...repos].sort().join(',') };
  }

  /** Adds `labels` to a blob that was stored already (and is held). */
  private async adopt(
    digest: string,
    have: Record<string, string>,
    labels: Record<string, string>,
  ): Promise<void> {
    if (Object.entries(labels).some(([k, v]) => have[k] !== v))
      await this.content.setLabels(digest, labels);
  }

  /** Fetches `desc` and everything under it for the platform, children first. */
  async walk(desc: Descriptor): Promise<void> {
    if (!isIndexType(desc.mediaType) && !isManifestType(desc.mediaType)) {
      await this.blob(desc);
      return;
    }
    const have = await this.hold(desc.digest);
    const data = have
      ? await readDocument(this.content, desc, MAX_MANIFEST_BYTES)
      : await this.limiter.run(() => this.retried(() => this.source.fetchManifest(desc)));
    const children = isIndexType(desc.mediaType)
      ? this.select(parseIndex(data, desc.mediaType).manifests, desc)
      : (({ config, layers }) => [config, ...layers])(parseManifest(data, desc.mediaType));
    // Settle every child before failing, so no write runs on past the pull (and its lease).
    const results = await Promise.allSettled(children.map((c) => this.walk(c)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      this.failure ??= failed.reason;
      throw failed.reason;
    }
    const labels = { ...childGCLabels(children), ...this.sourceLabel(have) };
    if (have) {
      await this.adopt(desc.digest, have, labels);
      this.progress('exists', desc, desc.size);
      return;
    }
    this.fetched++;
    countPulledBytes(desc.size);
    await this.store(desc, () => once(data), labels);
    this.progress('done', desc, desc.size);
  }

  /** The manifests of an index this pull wants: the best match, or all of them. */
  private select(manifests: Descriptor[], index: Descriptor): Descriptor[] {
    if (this.opts.allPlatforms) return manifests;
    const m = this.opts.platform;
    // Stable: among equally good platforms the first listed wins; entries without one come last.
    const candidates = manifests
      .map((d, i) => ({ d, i }))
      .filter(({ d }) => !d.platform || m.match(d.platform))
      .sort(
        (a, b) =>
          (a.d.platform && b.d.platform
            ? m.compare(a.d.platform, b.d.platform)
            : a.d.platform
              ? -1
              : b.d.platform
                ? 1
                : 0) || a.i - b.i,
      );
    if (candidates.length === 0) {
      throw new BerthError(
        'NotFound',
        `no manifest for platform ${m} in index ${index.digest} (it has ${platformList(manifests) || 'none'})`,
      );
    }
    return [candidates[0]!.d];
  }

  private async blob(desc: Descriptor): Promise<void> {
    this.progress('waiting', desc, 0);
    await this.limiter.run(async () => {
      if (this.failure) throw this.failure;
      const have = await this.hold(desc.digest);
      if (have) {
        await this.adopt(desc.digest, have, this.sourceLabel(have));
        this.progress('exists', desc, desc.size);
        return;
      }
      const wrote = await this.retried(() =>
        this.store(desc, () => this.download(desc), this.sourceLabel()),
      );
      if (wrote) {
        this.fetched++;
        countPulledBytes(desc.size);
      }
      this.progress(wrote ? 'done' : 'exists', desc, desc.size);
    });
  }

  private async *download(desc: Descriptor): AsyncGenerator<Uint8Array> {
    let offset = 0;
    for await (const chunk of await this.source.fetchBlob(desc)) {
      offset += chunk.length;
      this.progress('downloading', desc, offset);
      yield chunk;
    }
  }

  /**
   * Writes `desc`; true when this pull committed it. While another writer
   * holds the ingest, waits for it and then uses what it committed (or takes
   * over when it gave up).
   */
  private async store(
    desc: Descriptor,
    data: () => AsyncIterable<Uint8Array>,
    labels: Record<string, string>,
  ): Promise<boolean> {
    const ref = ingestRef(desc);
    const stallMs = this.opts.writerStallMs ?? DEFAULT_WRITER_STALL_MS;
    let seen: number | undefined;
    let movedAt = Date.now();
    for (let n = 0; ; n++) {
      try {
        if (await this.content.write(ref, desc, data, labels)) return true;
      } catch (err) {
        if (!isIngestBusy(err)) throw err;
        await sleep(Math.min(BUSY_POLL_MAX_MS, BUSY_POLL_FIRST_MS * 2 ** n), this.opts.signal);
        const offset = await this.content.ingestOffset(ref);
        if (offset !== seen) {
          seen = offset;
          movedAt = Date.now();
        } else if (Date.now() - movedAt > stallMs) {
          throw new BerthError(
            'Unavailable',
            `${desc.digest}: another pull holds its ingest ${ref} and made no progress for ${Math.round(stallMs / 1000)}s`,
          );
        }
        if ((await this.stored(desc.digest)) === undefined) continue;
      }
      // Stored by someone else (held since the walk reached it): add this pull's labels.
      await this.adopt(desc.digest, (await this.stored(desc.digest)) ?? {}, labels);
      return false;
    }
  }
}

/**
 * Pulls what `source` resolves to into `content` and records it in `images`.
 * The caller holds a lease over `content` for the duration, and unpacks.
 */
export async function pullImage<T>(
  source: PullSource,
  storage: { content: PullContent; images: ImageRecordSink<T> },
  opts: PullWalkOptions,
): Promise<PullResult<T>> {
  const note = (status: PullStatus, ref: string, mediaType = '', total = 0) =>
    opts.onProgress?.({ status, ref, mediaType, offset: 0, total });
  note('resolving', `${source.domain}/${source.path}`);
  const resolved = await source.resolve();
  const d = resolved.descriptor;
  const target: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  note('resolved', resolved.name, target.mediaType, target.size);
  const walker = new Walker(source, storage.content, opts);
  await walker.walk(target);
  const image = await storage.images.put({
    name: resolved.name,
    target,
    labels: opts.labels ?? {},
  });
  return { image, name: resolved.name, target, fetched: walker.fetched };
}
