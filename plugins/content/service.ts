import { ContentDelete } from '../../api/gen/containerd/events/content.js';
import {
  type AbortRequest,
  type DeleteContentRequest,
  type Info as PbInfo,
  type InfoRequest,
  type InfoResponse,
  type ListContentRequest,
  type ListContentResponse,
  type ListStatusesRequest,
  type ListStatusesResponse,
  type ReadContentRequest,
  type ReadContentResponse,
  type Status as PbStatus,
  type StatusRequest,
  type StatusResponse,
  type UpdateRequest,
  type UpdateResponse,
  WriteAction,
  type WriteContentRequest,
  type WriteContentResponse,
} from '../../api/gen/containerd/services/content/v1/content.js';
import type { Empty } from '../../api/gen/google/protobuf/empty.js';
import {
  BerthError,
  errAlreadyExists,
  errInvalidArgument,
  isBerthError,
} from '../../core/errors/catalogue.js';
import { toTimestamp } from '../../core/protobuf/timestamp.js';
import { packAny } from '../../core/protobuf/typeurl.js';
import type { Publisher } from '../daemon/publisher.js';
import type { CallContext } from '../server/context.js';
import { parseDigest } from '../../core/content/digest.js';
import type { ContentInfo, ContentMetadataStore } from '../../core/metadata/content.js';
import { READ_CHUNK_SIZE, type IngestStatus } from '../../core/content/store.js';
import type { ContentService } from '../../api/gen/containerd/services/content/v1/content.js';
import type { LocalServiceOf } from '../server/types.js';

// containerd sends List results in blocks of this many infos.
const LIST_BLOCK = 100;

export function infoToProto(c: ContentInfo): PbInfo {
  return {
    digest: c.digest,
    size: c.size,
    createdAt: toTimestamp(c.createdAt),
    updatedAt: toTimestamp(c.updatedAt),
    labels: c.labels,
  };
}

function statusToProto(s: IngestStatus): PbStatus {
  return {
    ref: s.ref,
    offset: s.offset,
    total: s.total,
    expected: s.expected,
    startedAt: toTimestamp(s.startedAt),
    updatedAt: toTimestamp(s.updatedAt),
  };
}

/** Digest validation at the boundary, with containerd's wording. */
function checkDigest(digest: string): void {
  try {
    parseDigest(digest);
  } catch (err) {
    throw errInvalidArgument(`${JSON.stringify(digest)} failed validation`, { cause: err });
  }
}

/** Local content service (containerd.services.content.v1.Content semantics). */
export class ContentLocal implements LocalServiceOf<ContentService> {
  constructor(
    private readonly store: ContentMetadataStore,
    private readonly events: Publisher,
  ) {}

  async info(req: InfoRequest, ctx: CallContext): Promise<InfoResponse> {
    checkDigest(req.digest);
    return { info: infoToProto(await this.store.info(ctx.namespace, req.digest)) };
  }

  async update(req: UpdateRequest, ctx: CallContext): Promise<UpdateResponse> {
    if (!req.info) throw errInvalidArgument('info must be set');
    checkDigest(req.info.digest);
    const info = await this.store.update(
      ctx.namespace,
      { digest: req.info.digest, labels: req.info.labels ?? {} },
      req.updateMask ?? [],
    );
    return { info: infoToProto(info) };
  }

  async *list(req: ListContentRequest, ctx: CallContext): AsyncGenerator<ListContentResponse> {
    const all = await this.store.list(ctx.namespace, req.filters ?? []);
    for (let i = 0; i < all.length; i += LIST_BLOCK) {
      yield { info: all.slice(i, i + LIST_BLOCK).map(infoToProto) };
    }
  }

  async delete(req: DeleteContentRequest, ctx: CallContext): Promise<Empty> {
    checkDigest(req.digest);
    await this.store.delete(ctx.namespace, req.digest);
    this.events.publish(
      ctx.namespace,
      '/content/delete',
      packAny('containerd.events.ContentDelete', ContentDelete, { digest: req.digest }),
    );
    return {};
  }

  /** `size` is how much to read, not the blob's size; 0 or past the end reads to the end. */
  async *read(req: ReadContentRequest, ctx: CallContext): AsyncGenerator<ReadContentResponse> {
    checkDigest(req.digest);
    for await (const chunk of this.store.read(
      ctx.namespace,
      req.digest,
      req.offset,
      req.size,
      READ_CHUNK_SIZE,
    )) {
      if (ctx.signal.aborted) return;
      yield { offset: chunk.offset, data: chunk.data };
    }
  }

  async status(req: StatusRequest, ctx: CallContext): Promise<StatusResponse> {
    try {
      return { status: statusToProto(await this.store.status(ctx.namespace, req.ref)) };
    } catch (err) {
      if (!isBerthError(err)) throw err;
      throw new BerthError(
        err.code,
        `could not get status for ref ${JSON.stringify(req.ref)}: ${err.message}`,
      );
    }
  }

  async listStatuses(req: ListStatusesRequest, ctx: CallContext): Promise<ListStatusesResponse> {
    const statuses = await this.store.listStatuses(ctx.namespace, req.filters ?? []);
    return { statuses: statuses.map(statusToProto) };
  }

  async abort(req: AbortRequest, ctx: CallContext): Promise<Empty> {
    await this.store.abort(ctx.namespace, req.ref);
    return {};
  }

  /**
   * The Write session. The first message names the ref (and may announce total
   * and expected digest) and locks it for the session. Then, per message:
   * STAT reports progress; WRITE appends data at `offset` (which must be the
   * current offset, or 0 to restart); COMMIT writes any data and then verifies
   * and commits, ending the session. Every message gets exactly one response
   * carrying the action and the current offset.
   */
  async *write(
    reqs: AsyncIterable<WriteContentRequest>,
    ctx: CallContext,
  ): AsyncGenerator<WriteContentResponse> {
    // Iterate by hand: returning from a for-await over the request stream would
    // destroy the call before the last response is sent.
    const incoming = reqs[Symbol.asyncIterator]();
    let next = await incoming.next();
    if (next.done) return;
    let req = next.value;
    const ref = req.ref;
    if (!ref) throw errInvalidArgument('first message must have a reference');
    let total = req.total;
    let expected = req.expected;
    if (expected) checkDigest(expected);

    const w = await this.store.writer(ctx.namespace, ref, {
      total: total > 0 ? total : undefined,
      expected: expected || undefined,
      lease: ctx.lease,
    });
    try {
      for (;;) {
        const ws = w.status();
        const res: WriteContentResponse = {
          action: req.action,
          offset: ws.offset,
          total: 0,
          digest: '',
          startedAt: undefined,
          updatedAt: undefined,
        };

        // Any message may carry (or change) the expectation, typically COMMIT.
        if (req.expected) {
          checkDigest(req.expected);
          expected = req.expected;
          const has = await this.store.info(ctx.namespace, expected).then(
            () => true,
            () => false,
          );
          if (has) {
            await w.close();
            await this.store.abort(ctx.namespace, ref).catch(() => undefined);
            throw errAlreadyExists(`blob with expected digest ${expected} exists`);
          }
        }
        if (req.total > 0) total = req.total;

        switch (req.action) {
          case WriteAction.STAT:
            res.digest = w.digest();
            res.startedAt = toTimestamp(ws.startedAt);
            res.updatedAt = toTimestamp(ws.updatedAt);
            res.total = total;
            break;
          case WriteAction.WRITE:
          case WriteAction.COMMIT: {
            if (req.offset > 0 && req.offset !== ws.offset) {
              throw new BerthError(
                'OutOfRange',
                `write @${req.offset} must occur at current offset ${ws.offset}`,
              );
            }
            if (req.offset === 0 && ws.offset > 0) {
              // Offset 0 on a non-empty ingest restarts it.
              await w.truncate(0);
              res.offset = 0;
            }
            if (req.data.length > 0) res.offset += await w.write(req.data);
            if (req.action === WriteAction.COMMIT) {
              const info = await w.commit(total, expected, req.labels ?? {});
              res.digest = info.digest;
            } else {
              res.digest = w.digest();
            }
            break;
          }
          default:
            throw errInvalidArgument(`unknown write action ${String(req.action)}`);
        }

        yield res;
        if (req.action === WriteAction.COMMIT) return;
        next = await incoming.next();
        if (next.done) return;
        req = next.value;
      }
    } finally {
      await w.close();
    }
  }
}
