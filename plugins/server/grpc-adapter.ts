import {
  type Metadata,
  type ServerDuplexStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  status as grpcStatus,
} from '@grpc/grpc-js';
import { BerthError, toStatus } from '../../core/errors/catalogue.js';
import { grpcCallChannel, observeCall } from './call-channel.js';
import { type CallContext, contextFromMetadata } from './context.js';
import type { LocalServiceOf } from './types.js';

/** The parts of a grpc-js call of any shape the adapter uses. */
interface AnyCall {
  metadata: Metadata;
  request?: unknown;
  on(ev: 'cancelled', fn: () => void): unknown;
  emit(ev: 'error', err: unknown): boolean;
  write?(msg: unknown): boolean;
  once?(ev: 'drain', fn: () => void): unknown;
  end?(): void;
}
type UnaryCallback = (err: { code: grpcStatus; details: string } | null, res?: unknown) => void;

/** One method of a service as the adapter serves it. */
interface AdaptedMethod {
  /** `containerd.services.tasks.v1.Tasks.Create`, as errors name it. */
  rpc: string;
  requestStream: boolean;
  responseStream: boolean;
  fn?: (input: unknown, ctx: CallContext) => unknown;
}

/**
 * The call's context. grpc-js reports 'cancelled' when the stream closes,
 * after every call; the abort signal is made only for a method that reads it
 * (aborted already when the client went away before that).
 */
function callContext(call: AnyCall): CallContext {
  let abort: AbortController | undefined;
  let cancelled = false;
  call.on('cancelled', () => {
    cancelled = true;
    abort?.abort(new Error('call cancelled by the client'));
  });
  return contextFromMetadata(call.metadata, () => {
    abort = new AbortController();
    if (cancelled) abort.abort(new Error('call cancelled by the client'));
    return abort.signal;
  });
}

/**
 * The request side of a bidirectional call as an async iterable that leaves
 * the call open when the requests end or the handler stops reading early
 * (a plain for-await over the stream destroys it, and with it the responses
 * still to be written and the final status).
 */
function requests(call: ServerDuplexStream<unknown, unknown>): AsyncIterable<unknown> {
  return {
    [Symbol.asyncIterator]: () =>
      call.iterator({ destroyOnReturn: false })[Symbol.asyncIterator]() as AsyncIterator<unknown>,
  };
}

async function writeAll(call: AnyCall, responses: AsyncIterable<unknown>, ctx: CallContext) {
  for await (const msg of responses) {
    if (ctx.signal.aborted) break;
    if (!call.write!(msg)) await new Promise<void>((r) => call.once!('drain', () => r()));
  }
  call.end!();
}

/**
 * Serves one call of `m`, whatever its shape, and resolves with the status
 * code it ended with. Every call of every adapted service starts and ends
 * here, with its method name at hand.
 */
async function serveCall(m: AdaptedMethod, call: AnyCall, done?: UnaryCallback): Promise<number> {
  try {
    if (!m.fn) throw new BerthError('NotImplemented', `${m.rpc} is not implemented by berthd`);
    const ctx = callContext(call);
    const input = !m.requestStream
      ? call.request
      : m.responseStream
        ? requests(call as ServerDuplexStream<unknown, unknown>)
        : call;
    const output = m.fn(input, ctx);
    if (m.responseStream) await writeAll(call, output as AsyncIterable<unknown>, ctx);
    else done!(null, await output);
    return grpcStatus.OK;
  } catch (err) {
    const s = toStatus(err);
    const status = { code: s.code as grpcStatus, details: s.message };
    // A stream ends with an 'error' event as its status; destroy() would drop
    // the call without one, leaving the client waiting.
    if (m.responseStream) call.emit('error', { ...status, message: s.message });
    else done!(status);
    return s.code;
  }
}

/** `containerd.services.tasks.v1.Tasks` from a method path `/containerd.services.tasks.v1.Tasks/Create`. */
export function serviceName(definition: ServiceDefinition): string {
  const first = Object.values(definition)[0];
  return first ? first.path.slice(1, first.path.lastIndexOf('/')) : '';
}

/**
 * Turns a local service into a grpc-js implementation of `definition`. The
 * methods in `unimplemented` answer UNIMPLEMENTED with a clear message; any
 * other method the service lacks (possible only past the type checker) is a
 * programming error reported here, at registration, not on first call.
 */
export function adaptService<S extends ServiceDefinition, U extends keyof S & string = never>(
  definition: S,
  impl: LocalServiceOf<NoInfer<S>, NoInfer<U>>,
  unimplemented: readonly U[] = [],
): UntypedServiceImplementation {
  const service = serviceName(definition);
  const methods = impl as unknown as Record<string, AdaptedMethod['fn'] | undefined>;
  const out: UntypedServiceImplementation = {};
  for (const [key, def] of Object.entries(definition)) {
    const rpc = `${service}.${def.path.slice(def.path.lastIndexOf('/') + 1)}`;
    const fn = methods[key];
    const listed = (unimplemented as readonly string[]).includes(key);
    if (typeof fn !== 'function' && !listed)
      throw new Error(
        `${rpc}: the local service has no ${key}() and does not list it as unimplemented`,
      );
    if (typeof fn === 'function' && listed)
      throw new Error(`${rpc}: listed as unimplemented, but the local service has ${key}()`);
    const m: AdaptedMethod = {
      rpc,
      requestStream: def.requestStream,
      responseStream: def.responseStream,
      fn: listed ? undefined : fn!.bind(impl),
    };
    out[key] = (call: AnyCall, done?: UnaryCallback) =>
      void (grpcCallChannel.hasSubscribers
        ? observeCall(service, def, call.metadata, () => serveCall(m, call, done))
        : serveCall(m, call, done));
  }
  return out;
}
