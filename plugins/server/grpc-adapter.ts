import {
  type Metadata,
  type ServerDuplexStream,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  status as grpcStatus,
} from '@grpc/grpc-js';
import { toStatus } from '../../core/errors/catalogue.js';
import { type CallContext, contextFromMetadata } from './context.js';

// A local service method: the request plus the call context in, a response (or a
// stream of responses) out. Wire adapters only forward to these.
export type LocalMethod = (req: any, ctx: CallContext) => unknown;
export type StreamInMethod = (reqs: AsyncIterable<any>, ctx: CallContext) => unknown;
export type LocalService = Record<string, LocalMethod | StreamInMethod | undefined>;

interface GrpcCallLike {
  metadata: Metadata;
  on(ev: 'cancelled', fn: () => void): unknown;
}

function callContext(call: GrpcCallLike): { ctx: CallContext; abort: AbortController } {
  const abort = new AbortController();
  call.on('cancelled', () => abort.abort(new Error('call cancelled by the client')));
  return { ctx: contextFromMetadata(call.metadata, abort.signal), abort };
}

function toGrpcError(err: unknown) {
  const s = toStatus(err);
  return { code: s.code as grpcStatus, details: s.message, message: s.message };
}

/**
 * Ends a streaming call with an error status. grpc-js turns an 'error' event
 * into the call's status and ends it; destroy() would drop the call without
 * any status, leaving the client waiting.
 */
function failStream(call: { emit(ev: 'error', err: unknown): boolean }, err: object): void {
  call.emit('error', err);
}

/**
 * The request side of a bidirectional call as an async iterable that leaves
 * the call open when the requests end or the handler stops reading early
 * (a plain for-await over the stream destroys it, and with it the responses
 * still to be written and the final status).
 */
function requests<T>(call: ServerDuplexStream<T, unknown>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]: () =>
      call.iterator({ destroyOnReturn: false })[Symbol.asyncIterator]() as AsyncIterator<T>,
  };
}

function unimplemented(serviceName: string, method: string) {
  return {
    code: grpcStatus.UNIMPLEMENTED,
    details: `${serviceName}.${method} is not implemented by berthd`,
  };
}

/**
 * Turns a local service into a grpc-js implementation of `definition`. Methods
 * the local service lacks answer UNIMPLEMENTED with a clear message.
 */
export function adaptService(
  serviceName: string,
  definition: ServiceDefinition,
  impl: LocalService,
): UntypedServiceImplementation {
  const out: UntypedServiceImplementation = {};
  for (const [key, def] of Object.entries(definition)) {
    const method = (def as { originalName?: string }).originalName ?? key;
    const fn = impl[key]?.bind(impl);
    const shortName = def.path.split('/').pop() ?? method;
    if (!def.requestStream && !def.responseStream) {
      out[key] = (call: any, callback: any) => {
        if (!fn) return callback(unimplemented(serviceName, shortName));
        let ctx: CallContext;
        try {
          ({ ctx } = callContext(call));
        } catch (err) {
          return callback(toGrpcError(err));
        }
        Promise.resolve()
          .then(() => (fn as LocalMethod)(call.request, ctx))
          .then(
            (res) => callback(null, res),
            (err) => callback(toGrpcError(err)),
          );
      };
    } else if (!def.requestStream && def.responseStream) {
      out[key] = (call: ServerWritableStream<any, any>) => {
        if (!fn) return failStream(call, unimplemented(serviceName, shortName));
        void (async () => {
          try {
            const { ctx } = callContext(call);
            const it = (fn as LocalMethod)(call.request, ctx) as AsyncIterable<unknown>;
            for await (const msg of it) {
              if (ctx.signal.aborted) break;
              if (!call.write(msg)) await new Promise((r) => call.once('drain', r));
            }
            call.end();
          } catch (err) {
            failStream(call, toGrpcError(err));
          }
        })();
      };
    } else if (def.requestStream && !def.responseStream) {
      out[key] = (call: any, callback: any) => {
        if (!fn) return callback(unimplemented(serviceName, shortName));
        Promise.resolve()
          .then(() => (fn as StreamInMethod)(call as AsyncIterable<any>, callContext(call).ctx))
          .then(
            (res) => callback(null, res),
            (err) => callback(toGrpcError(err)),
          );
      };
    } else {
      out[key] = (call: ServerDuplexStream<any, any>) => {
        if (!fn) return failStream(call, unimplemented(serviceName, shortName));
        void (async () => {
          try {
            const { ctx } = callContext(call);
            const it = (fn as StreamInMethod)(requests(call), ctx) as AsyncIterable<unknown>;
            for await (const msg of it) {
              if (!call.write(msg)) await new Promise((r) => call.once('drain', r));
            }
            call.end();
          } catch (err) {
            failStream(call, toGrpcError(err));
          }
        })();
      };
    }
  }
  return out;
}
