import type { ClientDuplexStream, ServiceError } from '@grpc/grpc-js';
import {
  ContentClient,
  type Info as ContentInfo,
  type Status as IngestStatus,
  WriteAction,
  type WriteContentRequest,
  type WriteContentResponse,
} from '../api/gen/containerd/services/content/v1/content.js';
import { isAlreadyExists } from '../core/errors/catalogue.js';
import {
  type CallOptions,
  type Connection,
  metadataFor,
  serverStream,
  unary,
} from './connection.js';

export type { ContentInfo, IngestStatus };

/** Size of each data message an ingest sends. */
const WRITE_CHUNK = 1 << 20;

export interface IngestOptions {
  /** Announced size, verified at commit. */
  expectedSize?: number;
  /** Announced digest, verified at commit; if the namespace has it already nothing is sent. */
  expectedDigest?: string;
  /** Labels set on the committed blob. */
  labels?: Record<string, string>;
}

/** Re-chunks a byte source into pieces of at most `max` bytes. */
async function* rechunk(source: AsyncIterable<Uint8Array>, max: number) {
  for await (const chunk of source) {
    for (let i = 0; i < chunk.length; i += max) yield chunk.subarray(i, i + max);
  }
}

/**
 * One Write session: every request gets exactly one response, so requests and
 * responses are paired in order.
 */
class WriteSession {
  private readonly queue: WriteContentResponse[] = [];
  private readonly waiters: Array<{
    resolve: (r: WriteContentResponse) => void;
    reject: (e: unknown) => void;
  }> = [];
  private failure: unknown;

  constructor(
    private readonly call: ClientDuplexStream<WriteContentRequest, WriteContentResponse>,
    private readonly conn: Connection,
  ) {
    call.on('data', (m: WriteContentResponse) => {
      const w = this.waiters.shift();
      if (w) w.resolve(m);
      else this.queue.push(m);
    });
    call.on('error', (e: ServiceError) => {
      this.failure = typeof e.code === 'number' ? conn.wrapError(e) : e;
      for (const w of this.waiters.splice(0)) w.reject(this.failure);
    });
  }

  send(req: Partial<WriteContentRequest>): Promise<WriteContentResponse> {
    if (this.failure) return Promise.reject(this.failure);
    this.call.write({
      action: WriteAction.STAT,
      ref: '',
      total: 0,
      expected: '',
      offset: 0,
      data: new Uint8Array(),
      labels: {},
      ...req,
    });
    const ready = this.queue.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  close(): void {
    this.call.end();
  }
}

/** The content store of berthd (containerd.services.content.v1.Content). */
export class ContentApi {
  constructor(
    private readonly conn: Connection,
    private readonly opts: (extra?: Partial<CallOptions>) => CallOptions,
  ) {}

  private get grpc(): ContentClient {
    return this.conn.client(ContentClient);
  }

  private call<Res>(method: string, req: unknown): Promise<Res> {
    return unary<unknown, Res>(this.conn, this.grpc, method, req, this.opts());
  }

  /** Blobs of the namespace matching any of the filters (digest==, size==, labels.k==v). */
  async list(...filters: string[]): Promise<ContentInfo[]> {
    const out: ContentInfo[] = [];
    const it = serverStream<unknown, { info: ContentInfo[] }>(
      this.conn,
      this.grpc,
      'list',
      { filters },
      this.opts(),
    );
    for await (const block of it) out.push(...block.info);
    return out;
  }

  async info(digest: string): Promise<ContentInfo> {
    return (await this.call<{ info: ContentInfo }>('info', { digest })).info;
  }

  /** Sets (or, with an empty value, removes) labels; other labels are kept. */
  async setLabels(digest: string, labels: Record<string, string>): Promise<ContentInfo> {
    const set = Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ''));
    return (
      await this.call<{ info: ContentInfo }>('update', {
        info: { digest, size: 0, labels: set },
        updateMask: Object.keys(labels).map((k) => `labels.${k}`),
      })
    ).info;
  }

  async delete(digest: string): Promise<void> {
    await this.call('delete', { digest });
  }

  /** The blob's bytes from `offset`, `size` of them (0: to the end). */
  async *read(
    digest: string,
    opts: { offset?: number; size?: number; signal?: AbortSignal } = {},
  ): AsyncGenerator<Uint8Array> {
    const it = serverStream<unknown, { data: Uint8Array }>(
      this.conn,
      this.grpc,
      'read',
      { digest, offset: opts.offset ?? 0, size: opts.size ?? 0 },
      this.opts({ signal: opts.signal, timeoutMs: undefined }),
    );
    for await (const m of it) yield m.data;
  }

  /** In-progress ingests of the namespace (filter field: `ref`). */
  async statuses(...filters: string[]): Promise<IngestStatus[]> {
    return (await this.call<{ statuses: IngestStatus[] }>('listStatuses', { filters })).statuses;
  }

  async status(ref: string): Promise<IngestStatus> {
    return (await this.call<{ status: IngestStatus }>('status', { ref })).status;
  }

  async abort(ref: string): Promise<void> {
    await this.call('abort', { ref });
  }

  /**
   * Writes `source` as the ingest `ref` and commits it; returns the digest.
   * An ingest left by an earlier attempt is restarted from the beginning. If
   * the namespace already has `expectedDigest`, that digest is returned.
   */
  async ingest(
    ref: string,
    source: AsyncIterable<Uint8Array>,
    opts: IngestOptions = {},
  ): Promise<string> {
    const o = this.opts({ timeoutMs: undefined });
    const call = this.grpc.write(metadataFor(o));
    const session = new WriteSession(call, this.conn);
    try {
      const first = await session.send({
        action: WriteAction.STAT,
        ref,
        total: opts.expectedSize ?? 0,
        expected: opts.expectedDigest ?? '',
      });
      // Offset 0 on the first write restarts a partial ingest we cannot resume.
      let offset = 0;
      let restart = first.offset > 0;
      for await (const data of rechunk(source, WRITE_CHUNK)) {
        const res = await session.send({
          action: WriteAction.WRITE,
          offset: restart ? 0 : offset,
          data,
        });
        restart = false;
        offset = res.offset;
      }
      const done = await session.send({
        action: WriteAction.COMMIT,
        // An empty source on a partial ingest must still restart it.
        offset: restart ? 0 : offset,
        total: opts.expectedSize ?? 0,
        expected: opts.expectedDigest ?? '',
        labels: opts.labels ?? {},
      });
      return done.digest;
    } catch (err) {
      if (opts.expectedDigest && isAlreadyExists(err)) return opts.expectedDigest;
      throw err;
    } finally {
      session.close();
    }
  }
}
