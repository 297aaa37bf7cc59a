import { createHash, type Hash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import {
  chmod,
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import {
  BerthError,
  errAlreadyExists,
  errFailedPrecondition,
  errInvalidArgument,
  errNotFound,
  errUnavailable,
} from '../errors/catalogue.js';
import { fsError } from '../errors/fs.js';
import { type Adaptor, parseFilters } from '../filters/index.js';
import { CANONICAL_ALGORITHM, type DigestAlgorithm, parseDigest } from './digest.js';

// The local blob store: content-addressed files under <root>/blobs/<alg>/<hex>
// and in-progress writes ("ingests") under <root>/ingest/<sha256(ref)>/. It
// knows nothing of namespaces or labels; the metadata layer adds those.
//
// An ingest directory holds:
//   data       the bytes written so far
//   ref        the caller's reference (the directory name is its hash)
//   total      the size the writer announced, when it did
//   expected   the digest the writer announced, when it did
//   startedat  / updatedat   ISO timestamps
//
// A blob only ever appears under its digest by rename(2) of a fully written,
// fsynced and verified ingest file, so a digest name never holds partial data.

/** Largest chunk `read` yields; also the gRPC Read chunk size. */
export const READ_CHUNK_SIZE = 1 << 20;
const BLOBS = 'blobs';
const INGEST = 'ingest';
const ALGORITHMS: readonly DigestAlgorithm[] = ['sha256', 'sha512'];
// A writer that finds its ref locked retries briefly, so a client that reopens a
// ref right after closing it does not race the previous writer's release.
const LOCK_ATTEMPTS = 6;

export interface BlobInfo {
  digest: string;
  size: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface IngestStatus {
  ref: string;
  /** Bytes written so far. */
  offset: number;
  /** Size announced by the writer; 0 when unknown. */
  total: number;
  /** Digest announced by the writer; '' when unknown. */
  expected: string;
  startedAt: Date;
  updatedAt: Date;
}

export interface WriterOptions {
  /** Expected size; checked at commit when set (> 0). */
  total?: number;
  /** Expected digest; checked at commit when set. */
  expected?: string;
}

function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code;
}

function validateRef(ref: string): void {
  if (typeof ref !== 'string' || ref === '') throw errInvalidArgument('ref must not be empty');
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

function parseTime(s: string | undefined): Date | undefined {
  if (s === undefined) return undefined;
  const d = new Date(s.trim());
  return Number.isNaN(d.getTime()) ? undefined : d;
}

async function hashFile(file: string, algorithm: DigestAlgorithm, into?: Hash): Promise<Hash> {
  const h = into ?? createHash(algorithm);
  for await (const chunk of createReadStream(file, { highWaterMark: READ_CHUNK_SIZE })) {
    h.update(chunk as Buffer);
  }
  return h;
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Random access to one blob; close it when done. */
export class BlobReader {
  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
  ) {}

  /** Up to `length` bytes at `offset`; shorter only at the end of the blob. */
  async readAt(offset: number, length: number): Promise<Buffer> {
    if (offset < 0 || length < 0)
      throw errInvalidArgument('offset and length must not be negative');
    const n = Math.max(0, Math.min(length, this.size - offset));
    const buf = Buffer.alloc(n);
    let done = 0;
    while (done < n) {
      const { bytesRead } = await this.fh.read(buf, done, n - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === n ? buf : buf.subarray(0, done);
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

export class LocalContentStore {
  private readonly locked = new Set<string>();

  private constructor(readonly root: string) {}

  /** Opens (creating the directories of) a store rooted at `root`. */
  static async open(root: string): Promise<LocalContentStore> {
    await mkdir(path.join(root, BLOBS), { recursive: true });
    await mkdir(path.join(root, INGEST), { recursive: true });
    const store = new LocalContentStore(root);
    await store.removeIncompleteIngests();
    return store;
  }

  /**
   * A crash while an ingest was being created (before its data file or ref
   * existed) leaves a directory that listStatuses cannot read, so no abort or
   * collection would ever find it. It holds nothing resumable (opening the ref
   * again starts it over), so it goes at open, before any writer exists.
   */
  private async removeIncompleteIngests(): Promise<void> {
    for (const name of await readdir(path.join(this.root, INGEST))) {
      const dir = path.join(this.root, INGEST, name);
      try {
        await this.readStatus(dir);
      } catch (err) {
        if (err instanceof BerthError && err.code === 'NotFound')
          await rm(dir, { recursive: true, force: true });
      }
    }
  }

  /** Where a blob lives; validates the digest, so callers may pass untrusted input. */
  blobPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return path.join(this.root, BLOBS, algorithm, hex);
  }

  private ingestDir(ref: string): string {
    return path.join(this.root, INGEST, createHash('sha256').update(ref).digest('hex'));
  }

  async info(digest: string): Promise<BlobInfo> {
    const p = this.blobPath(digest);
    try {
      const st = await stat(p);
      return { digest, size: st.size, createdAt: st.mtime, updatedAt: st.mtime };
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw errNotFound(`content ${digest}`);
      throw err;
    }
  }

  async exists(digest: string): Promise<boolean> {
    try {
      await this.info(digest);
      return true;
    } catch (err) {
      if (err instanceof BerthError && err.code === 'NotFound') return false;
      throw err;
    }
  }

  async readerAt(digest: string): Promise<BlobReader> {
    const p = this.blobPath(digest);
    let fh: FileHandle;
    try {
      fh = await open(p, 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw errNotFound(`content ${digest}`);
      throw err;
    }
    try {
      return new BlobReader(fh, (await fh.stat()).size);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /**
   * The blob's bytes from `offset`, `size` of them (0 or past the end: to the
   * end), in chunks of at most `chunkSize`. OutOfRange when offset is past the end.
   */
  async *read(
    digest: string,
    offset = 0,
    size = 0,
    chunkSize = READ_CHUNK_SIZE,
  ): AsyncGenerator<{ offset: number; data: Buffer }> {
    const r = await this.readerAt(digest);
    try {
      const start = Math.max(0, offset);
      if (start > r.size) {
        throw new BerthError('OutOfRange', `read past object length ${r.size} bytes`);
      }
      const end = size <= 0 || start + size > r.size ? r.size : start + size;
      for (let at = start; at < end;) {
        const data = await r.readAt(at, Math.min(chunkSize, end - at));
        if (data.length === 0) break;
        yield { offset: at, data };
        at += data.length;
      }
    } finally {
      await r.close();
    }
  }

  /** Every blob, in algorithm then hex order. Entries that are not valid digests are skipped. */
  async walk(fn: (info: BlobInfo) => void | Promise<void>): Promise<void> {
    for (const algorithm of ALGORITHMS) {
      let names: string[];
      try {
        names = await readdir(path.join(this.root, BLOBS, algorithm));
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue;
        throw err;
      }
      for (const hex of names.sort()) {
        const digest = `${algorithm}:${hex}`;
        let info: BlobInfo;
        try {
          info = await this.info(digest);
        } catch (err) {
          // Not a digest (stray file) or removed while walking.
          if (
            err instanceof BerthError &&
            (err.code === 'InvalidArgument' || err.code === 'NotFound')
          )
            continue;
          throw err;
        }
        await fn(info);
      }
    }
  }

  async delete(digest: string): Promise<void> {
    const p = this.blobPath(digest);
    try {
      await rm(p);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw errNotFound(`content ${digest}`);
      throw err;
    }
  }

  /**
   * Begin or resume the ingest `ref`. Only one writer may hold a ref at a time:
   * a second one gets Unavailable. Resuming re-reads the data written so far to
   * rebuild the running digest.
   */
  async writer(ref: string, opts: WriterOptions = {}): Promise<IngestWriter> {
    validateRef(ref);
    if (opts.expected) parseDigest(opts.expected);
    const total = opts.total ?? 0;
    if (!Number.isSafeInteger(total) || total < 0)
      throw errInvalidArgument(`total ${total} must be a non-negative size`);
    await this.lock(ref);
    try {
      return await this.openIngest(ref, total, opts.expected ?? '');
    } catch (err) {
      this.locked.delete(ref);
      throw err;
    }
  }

  private async lock(ref: string): Promise<void> {
    for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
      if (!this.locked.has(ref)) {
        this.locked.add(ref);
        return;
      }
      await sleep(Math.random() * (1 << attempt));
    }
    throw errUnavailable(`ref ${ref} locked`);
  }

  /** @internal released by IngestWriter.close */
  unlock(ref: string): void {
    this.locked.delete(ref);
  }

  private async openIngest(ref: string, total: number, expected: string): Promise<IngestWriter> {
    const dir = this.ingestDir(ref);
    const data = path.join(dir, 'data');
    let resumed: IngestStatus | undefined;
    try {
      await mkdir(dir);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      resumed = await this.readStatus(dir).catch(() => undefined);
      if (resumed && resumed.ref !== ref) {
        throw new BerthError('DataLoss', `ingest for ${ref} holds ref ${resumed.ref}`);
      }
      if (resumed && total > 0 && resumed.total > 0 && total !== resumed.total) {
        throw errFailedPrecondition(
          `ref ${ref}: provided total ${total} differs from the ingest's total ${resumed.total}`,
        );
      }
    }

    const now = new Date();
    if (!resumed) {
      // New, or a directory left incomplete by a crash during creation: start over.
      for (const f of ['data', 'total', 'expected']) await rm(path.join(dir, f), { force: true });
      await writeFile(path.join(dir, 'ref'), ref);
      await writeFile(path.join(dir, 'startedat'), now.toISOString());
      await writeFile(path.join(dir, 'updatedat'), now.toISOString());
    }
    if (total > 0 && !(resumed && resumed.total > 0)) {
      await writeFile(path.join(dir, 'total'), String(total));
    }
    if (expected && expected !== resumed?.expected) {
      await writeFile(path.join(dir, 'expected'), expected);
    }

    const hash = createHash(CANONICAL_ALGORITHM);
    if (resumed) await hashFile(data, CANONICAL_ALGORITHM, hash);
    const fh = await open(data, constants.O_WRONLY | constants.O_CREAT, 0o644);
    const offset = (await fh.stat()).size;
    return new IngestWriter(this, fh, hash, {
      ref,
      dir,
      offset,
      total: total || resumed?.total || 0,
      expected: expected || resumed?.expected || '',
      startedAt: resumed?.startedAt ?? now,
      updatedAt: resumed?.updatedAt ?? now,
    });
  }

  private async readStatus(dir: string): Promise<IngestStatus> {
    let st;
    try {
      st = await stat(path.join(dir, 'data'));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw errNotFound(`ingest ${path.basename(dir)}`);
      throw err;
    }
    const ref = await readText(path.join(dir, 'ref'));
    if (ref === undefined) throw errNotFound(`ingest ${path.basename(dir)}`);
    const startedAt = parseTime(await readText(path.join(dir, 'startedat'))) ?? st.mtime;
    const recorded = parseTime(await readText(path.join(dir, 'updatedat'))) ?? startedAt;
    const total = Number((await readText(path.join(dir, 'total')))?.trim() ?? 0);
    return {
      ref,
      offset: st.size,
      total: Number.isSafeInteger(total) && total > 0 ? total : 0,
      expected: (await readText(path.join(dir, 'expected')))?.trim() ?? '',
      startedAt,
      // updatedat is written at open and close; the data's mtime is fresher mid-write.
      updatedAt: st.mtime > recorded ? st.mtime : recorded,
    };
  }

  async status(ref: string): Promise<IngestStatus> {
    validateRef(ref);
    try {
      return await this.readStatus(this.ingestDir(ref));
    } catch (err) {
      if (err instanceof BerthError && err.code === 'NotFound') throw errNotFound(`ref ${ref}`);
      throw err;
    }
  }

  /**
   * Every ingest whose ref starts with `refPrefix` and matches the filters
   * (containerd's: the only field is `ref`). Ingests that vanish while listing
   * are skipped.
   */
  async listStatuses(filters: readonly string[] = [], refPrefix = ''): Promise<IngestStatus[]> {
    const filter = parseFilters(filters);
    const out: IngestStatus[] = [];
    for (const name of (await readdir(path.join(this.root, INGEST))).sort()) {
      let s: IngestStatus;
      try {
        s = await this.readStatus(path.join(this.root, INGEST, name));
      } catch (err) {
        if (err instanceof BerthError && err.code === 'NotFound') continue;
        throw err;
      }
      if (!s.ref.startsWith(refPrefix)) continue;
      const adaptor: Adaptor = ([head]) =>
        head === 'ref' ? { value: s.ref, present: true } : { value: '', present: false };
      if (filter.match(adaptor)) out.push(s);
    }
    return out;
  }

  /** Remove an ingest and its data. An active writer's later commit then fails. */
  async abort(ref: string): Promise<void> {
    validateRef(ref);
    const dir = this.ingestDir(ref);
    try {
      await stat(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw errNotFound(`ref ${ref}`);
      throw err;
    }
    await rm(dir, { recursive: true, force: true });
  }

  /** @internal moves a verified ingest file under its digest; see IngestWriter.commit. */
  async publish(dir: string, digest: string): Promise<void> {
    const target = this.blobPath(digest);
    if (await this.exists(digest)) {
      await rm(dir, { recursive: true, force: true });
      throw errAlreadyExists(`content ${digest}`);
    }
    const data = path.join(dir, 'data');
    await chmod(data, 0o444);
    await mkdir(path.dirname(target), { recursive: true });
    await rename(data, target);
    await fsyncDir(path.dirname(target));
    await rm(dir, { recursive: true, force: true });
  }
}

interface WriterState {
  ref: string;
  dir: string;
  offset: number;
  total: number;
  expected: string;
  startedAt: Date;
  updatedAt: Date;
}

/**
 * An open ingest. Writes append at the current offset; commit verifies and
 * publishes the blob. close() (which commit implies) releases the ref.
 */
export class IngestWriter {
  private closed = false;
  private released = false;

  constructor(
    private readonly store: LocalContentStore,
    private readonly fh: FileHandle,
    private hash: Hash,
    private readonly state: WriterState,
  ) {}

  get ref(): string {
    return this.state.ref;
  }

  get offset(): number {
    return this.state.offset;
  }

  status(): IngestStatus {
    const { ref, offset, total, expected, startedAt, updatedAt } = this.state;
    return { ref, offset, total, expected, startedAt, updatedAt };
  }

  /** Digest of the bytes written so far. */
  digest(): string {
    return `${CANONICAL_ALGORITHM}:${this.hash.copy().digest('hex')}`;
  }

  /**
   * Write `data` at `offset`, which must be the current size of the ingest:
   * writes only ever append (FailedPrecondition otherwise).
   */
  async write(data: Uint8Array, offset = this.state.offset): Promise<number> {
    this.assertOpen();
    if (offset !== this.state.offset) {
      throw errFailedPrecondition(
        `write to ${this.state.ref} at offset ${offset} must occur at current offset ${this.state.offset}`,
      );
    }
    let done = 0;
    try {
      while (done < data.length) {
        const { bytesWritten } = await this.fh.write(
          data,
          done,
          data.length - done,
          this.state.offset + done,
        );
        done += bytesWritten;
      }
    } catch (err) {
      throw fsError(`write ingest ${this.state.ref} (${path.join(this.state.dir, 'data')})`, err);
    }
    this.hash.update(data);
    this.state.offset += done;
    this.state.updatedAt = new Date();
    return done;
  }

  /** Only truncation to 0 (restart the ingest) is supported, as in containerd. */
  async truncate(size: number): Promise<void> {
    this.assertOpen();
    if (size !== 0) throw errInvalidArgument(`truncate to ${size}: only 0 is supported`);
    await this.fh.truncate(0);
    this.hash = createHash(CANONICAL_ALGORITHM);
    this.state.offset = 0;
    this.state.updatedAt = new Date();
  }

  /**
   * Verify and publish. `size` and `expected` default to what the writer was
   * opened with; a mismatch is FailedPrecondition and publishes nothing. If the
   * blob already exists the ingest is removed and AlreadyExists is thrown.
   * The writer is closed afterwards whatever the outcome. Returns the digest.
   */
  async commit(size = 0, expected = ''): Promise<string> {
    this.assertOpen();
    try {
      const wantSize = size || this.state.total;
      const wantDigest = expected || this.state.expected;
      const algorithm = wantDigest ? parseDigest(wantDigest).algorithm : CANONICAL_ALGORITHM;
      const data = path.join(this.state.dir, 'data');
      await this.fh.sync().catch((err: unknown) => {
        throw fsError(`commit ingest ${this.state.ref}: sync ${data}`, err);
      });
      let actualSize: number;
      try {
        actualSize = (await stat(data)).size;
      } catch (err) {
        if (isErrno(err, 'ENOENT')) throw errNotFound(`ref ${this.state.ref} (ingest aborted)`);
        throw err;
      }
      if (wantSize > 0 && actualSize !== wantSize) {
        throw errFailedPrecondition(`unexpected commit size ${actualSize}, expected ${wantSize}`);
      }
      const actual =
        algorithm === CANONICAL_ALGORITHM
          ? this.digest()
          : `${algorithm}:${(await hashFile(data, algorithm)).digest('hex')}`;
      if (wantDigest && actual !== wantDigest) {
        throw errFailedPrecondition(`unexpected commit digest ${actual}, expected ${wantDigest}`);
      }
      await this.fh.close();
      this.closed = true;
      await this.store.publish(this.state.dir, actual);
      return actual;
    } finally {
      await this.close();
    }
  }

  /** Release the ref; the ingest stays on disk for a later writer to resume. */
  async close(): Promise<void> {
    if (this.released) return;
    if (this.closed) {
      this.release();
      return;
    }
    this.closed = true;
    try {
      await this.fh.close();
      await writeFile(
        path.join(this.state.dir, 'updatedat'),
        this.state.updatedAt.toISOString(),
      ).catch((err) => {
        // The ingest may have been aborted underneath us.
        if (!isErrno(err, 'ENOENT')) throw err;
      });
    } finally {
      this.release();
    }
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.store.unlock(this.state.ref);
  }

  private assertOpen(): void {
    if (this.closed) throw errFailedPrecondition(`writer for ${this.state.ref} is closed`);
  }
}
