import type {
  Envelope as PbEnvelope,
  ForwardRequest,
  PublishRequest,
  SubscribeRequest,
} from '../../api/gen/containerd/services/events/v1/events.js';
import type { Empty } from '../../api/gen/google/protobuf/empty.js';
import { errInvalidArgument } from '../../core/errors/catalogue.js';
import type { CallContext } from '../server/context.js';
import { fromTimestamp, toTimestamp } from '../../core/protobuf/timestamp.js';
import type { Exchange } from '../../core/events/exchange.js';
import type { EventsService } from '../../api/gen/containerd/services/events/v1/events.js';
import type { LocalServiceOf } from '../server/types.js';

/** Local events service (gRPC Events and the shims' ttrpc Events share it). */
export class EventsLocal implements LocalServiceOf<EventsService> {
  constructor(
    private readonly exchange: Exchange,
    private readonly bufferSize?: number,
  ) {}

  async publish(req: PublishRequest, ctx: CallContext): Promise<Empty> {
    if (!req.event) throw errInvalidArgument('event must be set');
    this.exchange.publish(ctx.namespace, req.topic, req.event);
    return {};
  }

  /** Forwarded envelopes keep their namespace and timestamp (shims, peers). */
  async forward(req: ForwardRequest): Promise<Empty> {
    const env = req.envelope;
    if (!env || !env.event) throw errInvalidArgument('envelope with an event must be set');
    this.exchange.forward({
      timestamp: fromTimestamp(env.timestamp) ?? new Date(),
      namespace: env.namespace,
      topic: env.topic,
      event: env.event,
    });
    return {};
  }

  async *subscribe(req: SubscribeRequest, ctx: CallContext): AsyncGenerator<PbEnvelope> {
    const sub = this.exchange.subscribe(req.filters ?? [], {
      bufferSize: this.bufferSize,
      signal: ctx.signal,
    });
    try {
      for await (const env of sub) {
        yield {
          timestamp: toTimestamp(env.timestamp),
          namespace: env.namespace,
          topic: env.topic,
          event: env.event,
        };
      }
    } finally {
      sub.close();
    }
  }
}
