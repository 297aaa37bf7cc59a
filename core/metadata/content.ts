import {
  BerthError,
  errAlreadyExists,
  errFailedPrecondition,
  errInvalidArgument,
  errNotFound,
  isAlreadyExists,
} from '../errors/catalogue.js';
import { validateIdentifier } from '../identifiers.js';
import { type Adaptor, lookupLabel, parseFilters } from '../filters/index.js';
import { KeyedMutex } from './keyed-mutex.js';
import { kindPrefix, NAMESPACES_PREFIX, resourceKey } from './keys.js';
import { compactLabels, type Labels, validateLabel, validateLabels } from './labels.js';
import { ensureNamespace, namespaceLock } from './namespaces.js';
import { corrupt, type ReadTx, type TxRunner, type WriteTx } from './transaction.js';
import { parseDigest } from '../content/digest.js';
import type {
  BlobReader,
  IngestStatus,
  IngestWriter,
  LocalContentStore,
} from '../content/store.js';

// Namespaced content: which blobs each namespace has, with labels and times,
// as records `v1/ns/<ns>/content/<digest>` in the metadata database over one
// shared, namespace-agnostic LocalContentStore. A namespace sees only blobs it
// committed itself; committing a blob another namespace already has verifies
// the upload and then links the existing file instead of writing it again.
// Ingests are kept in the local store under the ref `<ns>/<ref>`.

export const CONTENT_KIND = 'content';

export interface ContentInfo {
  digest: string;
  size: number;
  labels: Labels;
  createdAt: Date;
  updatedAt: Date;
}

interface StoredContent {
  size: number;
  labels: Labels;
  createdAt: string;
  updatedAt: string;
}

/**
 * Lease hooks. Each runs inside the transaction that records the change, with
 * the namespace's lock held: write the lease reference through `tx` to make it
 * atomic with the record; throwing aborts the operation.
 */
export interface ContentLeaseHooks {
  /** A blob was committed (or linked) in `namespace` by a request carrying `lease`. */
  onCommit?(namespace: string, lease: string, digest: string, tx: WriteTx): void | Promise<void>;
  /** An ingest was opened in `namespace` by a request carrying `lease`. */
  onIngest?(namespace: string, lease: string, ref: string, tx: WriteTx): void | Promise<void>;
}

export interface NamespacedWriterOptions {
  total?: number;
  expected?: string;
  /** Lease of the request (`containerd-lease` header), passed to the hooks. */
  lease?: string;
}

function contentKey(namespace: string, digest: string): string {
  return resourceKey(namespace, CONTENT_KIND, digest);
}

function decodeContent(key: string, digest: string, raw: string): ContentInfo {
  let s: StoredContent;
  try {
    s = JSON.parse(raw) as StoredContent;
  } catch (err) {
    throw corrupt(key, 'not valid JSON', err);
  }
  if (s === null || typeof s !== 'object') throw corrupt(key, 'not an object');
  if (!Number.isSafeInteger(s.size) || s.size < 0) throw corrupt(key, 'size is not a size');
  if (s.labels === null || typeof s.labels !== 'object') throw corrupt(key, 'labels is not a map');
  const createdAt = new Date(s.createdAt);
  const updatedAt = new Date(s.updatedAt);
  if (Number.isNaN(createdAt.getTime()) || Number.isNaN(updatedAt.getTime()))
    throw corrupt(key, 'timestamps are not valid');
  return { digest, size: s.size, labels: { ...s.labels }, createdAt, updatedAt };
}

function encodeContent(c: ContentInfo): string {
  return JSON.stringify({
    size: c.size,
    labels: compactLabels(c.labels),
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString(),
  } satisfies StoredContent);
}

/** containerd's content filter fields: digest, size, labels.<key>. */
export function contentAdaptor(c: ContentInfo): Adaptor {
  return ([head, ...rest]) => {
    switch (head) {
      case 'digest':
        return { value: c.digest, present: true };
      case 'size':
        return { value: String(c.size), present: true };
      case 'labels':
        return lookupLabel(c.labels, rest);
      default:
        return { value: '', present: false };
    }
  };
}

function validateRef(ref: string): void {
  if (typeof ref !== 'string' || ref === '') throw errInvalidArgument('ref must not be empty');
}

/** An open ingest seen from one namespace. */
export class NamespacedWriter {
  constructor(
    private readonly owner: ContentMetadataStore,
    private readonly w: IngestWriter,
    readonly namespace: string,
    readonly ref: string,
    private readonly lease: string | undefined,
  ) {}

  get offset(): number {
    return this.w.offset;
  }

  status(): IngestStatus {
    return { ...this.w.status(), ref: this.ref };
  }

  digest(): string {
    return this.w.digest();
  }

  write(data: Uint8Array, offset?: number): Promise<number> {
    return this.w.write(data, offset);
  }

  truncate(size: number): Promise<void> {
    return this.w.truncate(size);
  }

  /** Verify, publish (or link) and record the blob in this namespace. Closes the writer. */
  commit(size = 0, expected = '', labels: Labels = {}): Promise<ContentInfo> {
    return this.owner.commitWriter(this.namespace, this.w, size, expected, labels, this.lease);
  }

  close(): Promise<void> {
    return this.w.close();
  }
}

export class ContentMetadataStore {
  // Serialises everything that may create or remove the blob file of one
  // digest (commit, delete, deleteBlob), so a namespace linking an existing
  // blob cannot race another namespace deleting its last reference.
  private readonly blobLocks = new KeyedMutex();

  constructor(
    private readonly db: TxRunner,
    readonly store: LocalContentStore,
    private readonly hooks: ContentLeaseHooks = {},
  ) {}

  private backendRef(namespace: string, ref: string): string {
    return `${namespace}/${ref}`;
  }

  async info(namespace: string, digest: string): Promise<ContentInfo> {
    validateIdentifier(namespace);
    parseDigest(digest);
    const key = contentKey(namespace, digest);
    const raw = await this.db.view((tx) => tx.get(key));
    if (raw === undefined) throw errNotFound(`content digest ${digest}`);
    return decodeContent(key, digest, raw);
  }

  async list(namespace: string, filters: readonly string[] = []): Promise<ContentInfo[]> {
    validateIdentifier(namespace);
    const filter = parseFilters(filters);
    const prefix = kindPrefix(namespace, CONTENT_KIND);
    return this.db.view(async (tx) => {
      const out: ContentInfo[] = [];
      for await (const [key, raw] of tx.entries(prefix)) {
        const c = decodeContent(key, key.slice(prefix.length), raw);
        if (filter.match(contentAdaptor(c))) out.push(c);
      }
      return out;
    });
  }

  /**
   * Update labels with containerd's field mask: `labels` or no paths replace
   * every label, `labels.<key>` sets that key (removes it when absent or
   * empty); any other path is InvalidArgument.
   */
  async update(
    namespace: string,
    info: { digest: string; labels?: Labels },
    fieldpaths: readonly string[] = [],
  ): Promise<ContentInfo> {
    validateIdentifier(namespace);
    parseDigest(info.digest);
    const incoming = info.labels ?? {};
    validateLabels(incoming, 'content.Labels');
    for (const p of fieldpaths) {
      if (p === 'labels') continue;
      if (p.startsWith('labels.') && p.length > 'labels.'.length) {
        const k = p.slice('labels.'.length);
        validateLabel(k, incoming[k] ?? '');
        continue;
      }
      throw errInvalidArgument(
        `cannot update ${JSON.stringify(p)} field on content info ${JSON.stringify(info.digest)}`,
      );
    }
    const key = contentKey(namespace, info.digest);
    return this.db.update([namespaceLock(namespace)], async (tx) => {
      const raw = await tx.get(key);
      if (raw === undefined) throw errNotFound(`content digest ${info.digest}`);
      const current = decodeContent(key, info.digest, raw);
      let labels = { ...current.labels };
      if (fieldpaths.length === 0) labels = compactLabels(incoming);
      for (const p of fieldpaths) {
        if (p === 'labels') {
          labels = compactLabels(incoming);
          continue;
        }
        const k = p.slice('labels.'.length);
        const v = incoming[k];
        if (v === undefined || v === '') delete labels[k];
        else labels[k] = v;
      }
      const next: ContentInfo = {
        ...current,
        labels,
        updatedAt: new Date(Math.max(Date.now(), current.createdAt.getTime())),
      };
      tx.put(key, encodeContent(next));
      return next;
    });
  }

  /**
   * Remove the namespace's record; the blob itself goes when no namespace
   * references it any more.
   */
  async delete(namespace: string, digest: string): Promise<void> {
    validateIdentifier(namespace);
    parseDigest(digest);
    const release = await this.blobLocks.acquire([digest]);
    try {
      const orphaned = await this.db.update([namespaceLock(namespace)], async (tx) => {
        const key = contentKey(namespace, digest);
        if (!(await tx.has(key))) throw errNotFound(`content digest ${digest}`);
        tx.del(key);
        return !(await this.referencedIn(tx, digest, namespace));
      });
      if (orphaned) await this.removeBlobFile(digest);
    } finally {
      release();
    }
  }

  async readerAt(namespace: string, digest: string): Promise<BlobReader> {
    await this.info(namespace, digest);
    return this.store.readerAt(digest);
  }

  /** The blob's bytes (see LocalContentStore.read), if this namespace has it. */
  async *read(
    namespace: string,
    digest: string,
    offset = 0,
    size = 0,
    chunkSize?: number,
  ): AsyncGenerator<{ offset: number; data: Buffer }> {
    await this.info(namespace, digest);
    yield* this.store.read(digest, offset, size, chunkSize);
  }

  /**
   * Open (or resume) the ingest `ref` in a namespace. AlreadyExists when the
   * namespace already has the expected digest.
   */
  async writer(
    namespace: string,
    ref: string,
    opts: NamespacedWriterOptions = {},
  ): Promise<NamespacedWriter> {
    validateIdentifier(namespace);
    validateRef(ref);
    if (opts.expected) {
      parseDigest(opts.expected);
      const key = contentKey(namespace, opts.expected);
      if (await this.db.view((tx) => tx.has(key)))
        throw errAlreadyExists(`content ${opts.expected}`);
    }
    // The lease first, the file second: a daemon killed in between leaves a
    // lease naming an ingest that never started (harmless), never an ingest on
    // disk that no lease protects from the collector.
    const lease = opts.lease;
    const onIngest = this.hooks.onIngest;
    if (lease && onIngest) {
      await this.db.update([namespaceLock(namespace)], async (tx) => {
        await ensureNamespace(tx, namespace);
        await onIngest(namespace, lease, ref, tx);
      });
    }
    const w = await this.store.writer(this.backendRef(namespace, ref), {
      total: opts.total,
      expected: opts.expected,
    });
    return new NamespacedWriter(this, w, namespace, ref, opts.lease);
  }

  /** @internal see NamespacedWriter.commit */
  async commitWriter(
    namespace: string,
    w: IngestWriter,
    size: number,
    expected: string,
    labels: Labels,
    lease: string | undefined,
  ): Promise<ContentInfo> {
    try {
      validateLabels(labels, 'content.Labels');
      if (expected) parseDigest(expected);
    } catch (err) {
      await w.close();
      throw err;
    }
    // Before verification the name is only a guess; the backend's commit checks it.
    const digest = expected || w.status().expected || w.digest();
    const release = await this.blobLocks.acquire([digest]);
    try {
      try {
        await w.commit(size, expected);
      } catch (err) {
        // The upload verified against a blob that is already stored: link it.
        if (!isAlreadyExists(err)) throw err;
      }
      const blob = await this.store.info(digest);
      const key = contentKey(namespace, digest);
      return await this.db.update([namespaceLock(namespace)], async (tx) => {
        if (await tx.has(key)) throw errAlreadyExists(`content ${digest}`);
        await ensureNamespace(tx, namespace);
        const now = new Date();
        const info: ContentInfo = {
          digest,
          size: blob.size,
          labels: compactLabels(labels),
          createdAt: now,
          updatedAt: now,
        };
        tx.put(key, encodeContent(info));
        if (lease && this.hooks.onCommit) await this.hooks.onCommit(namespace, lease, digest, tx);
        return info;
      });
    } finally {
      release();
    }
  }

  async status(namespace: string, ref: string): Promise<IngestStatus> {
    validateIdentifier(namespace);
    validateRef(ref);
    try {
      const s = await this.store.status(this.backendRef(namespace, ref));
      return { ...s, ref };
    } catch (err) {
      if (err instanceof BerthError && err.code === 'NotFound') throw errNotFound(`ref ${ref}`);
      throw err;
    }
  }

  /** The namespace's ingests matching the filters (field `ref`). */
  async listStatuses(namespace: string, filters: readonly string[] = []): Promise<IngestStatus[]> {
    validateIdentifier(namespace);
    const filter = parseFilters(filters);
    const prefix = `${namespace}/`;
    const out: IngestStatus[] = [];
    for (const s of await this.store.listStatuses([], prefix)) {
      const ref = s.ref.slice(prefix.length);
      const adaptor: Adaptor = ([head]) =>
        head === 'ref' ? { value: ref, present: true } : { value: '', present: false };
      if (filter.match(adaptor)) out.push({ ...s, ref });
    }
    return out;
  }

  async abort(namespace: string, ref: string): Promise<void> {
    validateIdentifier(namespace);
    validateRef(ref);
    try {
      await this.store.abort(this.backendRef(namespace, ref));
    } catch (err) {
      if (err instanceof BerthError && err.code === 'NotFound') throw errNotFound(`ref ${ref}`);
      throw err;
    }
  }

  /** Every digest some namespace holds a record for: the collector's roots of content. */
  async referencedDigests(): Promise<Set<string>> {
    return this.db.view(async (tx) => {
      const out = new Set<string>();
      for (const ns of await namespacesIn(tx)) {
        const prefix = kindPrefix(ns, CONTENT_KIND);
        for await (const [key] of tx.entries(prefix)) out.add(key.slice(prefix.length));
      }
      return out;
    });
  }

  /**
   * Remove a blob file no namespace references (for the collector).
   * FailedPrecondition while some namespace still holds a record for it.
   */
  async deleteBlob(digest: string): Promise<void> {
    parseDigest(digest);
    const release = await this.blobLocks.acquire([digest]);
    try {
      const referenced = await this.db.view((tx) => this.referencedIn(tx, digest));
      if (referenced) throw errFailedPrecondition(`content ${digest} is still referenced`);
      await this.store.delete(digest);
    } finally {
      release();
    }
  }

  private async referencedIn(tx: ReadTx, digest: string, except?: string): Promise<boolean> {
    for (const ns of await namespacesIn(tx)) {
      if (ns !== except && (await tx.has(contentKey(ns, digest)))) return true;
    }
    return false;
  }

  private async removeBlobFile(digest: string): Promise<void> {
    try {
      await this.store.delete(digest);
    } catch (err) {
      if (!(err instanceof BerthError && err.code === 'NotFound')) throw err;
    }
  }
}

async function namespacesIn(tx: ReadTx): Promise<string[]> {
  const out: string[] = [];
  for await (const [key] of tx.entries(NAMESPACES_PREFIX))
    out.push(key.slice(NAMESPACES_PREFIX.length));
  return out;
}
