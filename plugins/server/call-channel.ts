// One diagnostics channel for every gRPC call berthd serves (the containerd API
// and the CRI alike): metrics and tracing subscribe to it, the adapter knows
// neither. The adapter checks `hasSubscribers` first, so with nobody listening
// a call allocates nothing here. A subscriber binding a store to `start` runs
// the method under that store (tracing makes its span the active one this way).

import { tracingChannel } from 'node:diagnostics_channel';
import type { Metadata } from '@grpc/grpc-js';

/** Method types as go-grpc-prometheus names them. */
export type GrpcCallType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

/** One call, as subscribers see it at start and end (the same object). */
export interface GrpcCallMessage {
  /** Full service name: `containerd.services.tasks.v1.Tasks`, `runtime.v1.RuntimeService`. */
  service: string;
  /** Method name as in the proto: `Create`, `RunPodSandbox`. */
  method: string;
  type: GrpcCallType;
  /** The request headers (namespace, `traceparent`, …). */
  metadata: Metadata;
  /** The status code the call ended with; set before asyncEnd. */
  code?: number;
}

/** What the adapter knows of a method: its grpc-js definition's shape. */
export interface MethodShape {
  /** `/containerd.services.tasks.v1.Tasks/Create` */
  path: string;
  requestStream: boolean;
  responseStream: boolean;
}

/** start when the method is invoked, asyncEnd once the call has ended. */
export const grpcCallChannel = tracingChannel<unknown, GrpcCallMessage>('berth:grpc:call');

function callType(m: MethodShape): GrpcCallType {
  if (m.requestStream) return m.responseStream ? 'bidi_stream' : 'client_stream';
  return m.responseStream ? 'server_stream' : 'unary';
}

const UNKNOWN = 2;

/**
 * Serves one call through `serve` (which resolves with the status code it
 * ended with, for a streaming call after its last message), published on
 * the channel. Callers check `grpcCallChannel.hasSubscribers` first.
 */
export function observeCall(
  service: string,
  shape: MethodShape,
  metadata: Metadata,
  serve: () => Promise<number>,
): Promise<number> {
  const msg: GrpcCallMessage = {
    service,
    method: shape.path.slice(shape.path.lastIndexOf('/') + 1),
    type: callType(shape),
    metadata,
  };
  return grpcCallChannel.tracePromise(async () => {
    try {
      return (msg.code = await serve());
    } catch (err) {
      msg.code = UNKNOWN;
      throw err;
    }
  }, msg);
}
