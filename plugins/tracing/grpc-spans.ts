// A server span for every gRPC call, from the call channel: named by the full
// method, a child of the caller's `traceparent` when it sent one (the kubelet
// does when its tracing is on), and made the active span while the method
// runs, so the ttrpc calls it makes to shims carry the trace on.

import type { Metadata } from '@grpc/grpc-js';
import { StatusCode } from '../../core/errors/catalogue.js';
import { activeSpanStorage } from '../../core/tracing/active-span.js';
import { type Span, SpanKind } from '../../core/tracing/span.js';
import { parseTraceparent } from '../../core/tracing/traceparent.js';
import type { Tracer } from '../../core/tracing/tracer.js';
import { type GrpcCallMessage, grpcCallChannel } from '../server/call-channel.js';
import { NAMESPACE_HEADER } from '../server/context.js';
import { statusCodeName } from '../server/status-names.js';

// As OpenTelemetry's RPC conventions say: a server span fails only for these
// codes; a refusal (NotFound, InvalidArgument, …) is the caller's problem.
const SERVER_FAULTS: ReadonlySet<number> = new Set([
  StatusCode.UNKNOWN,
  StatusCode.DEADLINE_EXCEEDED,
  StatusCode.UNIMPLEMENTED,
  StatusCode.INTERNAL,
  StatusCode.UNAVAILABLE,
  StatusCode.DATA_LOSS,
]);

function header(md: Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  return v === undefined ? undefined : String(v);
}

export function startServerSpan(tracer: Tracer, call: GrpcCallMessage): Span {
  const md = call.metadata;
  const namespace = header(md, NAMESPACE_HEADER);
  return tracer.startSpan(`${call.service}/${call.method}`, {
    kind: SpanKind.Server,
    parent: parseTraceparent(header(md, 'traceparent'), header(md, 'tracestate')),
    attributes: {
      'rpc.system': 'grpc',
      'rpc.service': call.service,
      'rpc.method': call.method,
      ...(namespace ? { 'containerd.namespace': namespace } : {}),
    },
  });
}

/** Subscribes; returns the unsubscribe. */
export function traceGrpcCalls(tracer: Tracer): () => void {
  const spans = new WeakMap<GrpcCallMessage, Span>();
  const storage = activeSpanStorage();
  grpcCallChannel.start.bindStore(storage, (call) => {
    const span = startServerSpan(tracer, call);
    spans.set(call, span);
    return span;
  });
  const onEnd = (m: unknown) => {
    const call = m as GrpcCallMessage;
    const span = spans.get(call);
    if (!span) return;
    const code = call.code ?? StatusCode.UNKNOWN;
    span.setAttribute('rpc.grpc.status_code', code);
    if (SERVER_FAULTS.has(code)) span.fail(`gRPC status ${statusCodeName(code)}`);
    span.end();
  };
  grpcCallChannel.asyncEnd.subscribe(onEnd);
  return () => {
    grpcCallChannel.start.unbindStore(storage);
    grpcCallChannel.asyncEnd.unsubscribe(onEnd);
  };
}
