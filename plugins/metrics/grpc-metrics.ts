// gRPC server metrics from the call channel, named and labelled as
// go-grpc-prometheus names them (what containerd exposes), so existing
// dashboards read berthd unchanged.

import { StatusCode } from '../../core/errors/catalogue.js';
import { type GrpcCallMessage, grpcCallChannel } from '../server/call-channel.js';
import { statusCodeName } from '../server/status-names.js';
import type { Registry } from './registry.js';

/** Prometheus' default buckets, the ones go-grpc-prometheus uses (seconds). */
export const HANDLING_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Subscribes the gRPC series in `registry` to the call channel; returns the unsubscribe. */
export function recordGrpcCalls(registry: Registry): () => void {
  const labels = ['grpc_service', 'grpc_method', 'grpc_type'];
  const started = registry.counter(
    'grpc_server_started_total',
    'Total number of RPCs started on the server.',
    labels,
  );
  const handled = registry.counter(
    'grpc_server_handled_total',
    'Total number of RPCs completed on the server, regardless of success or failure.',
    [...labels, 'grpc_code'],
  );
  const seconds = registry.histogram(
    'grpc_server_handling_seconds',
    'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
    labels,
    HANDLING_BUCKETS,
  );
  const startedAt = new WeakMap<GrpcCallMessage, number>();
  const onStart = (m: unknown) => {
    const msg = m as GrpcCallMessage;
    startedAt.set(msg, performance.now());
    started.inc([msg.service, msg.method, msg.type]);
  };
  const onEnd = (m: unknown) => {
    const msg = m as GrpcCallMessage;
    const t0 = startedAt.get(msg);
    const code = msg.code ?? StatusCode.UNKNOWN;
    const values = [msg.service, msg.method, msg.type];
    handled.inc([...values, statusCodeName(code)]);
    if (t0 !== undefined) seconds.observe(values, (performance.now() - t0) / 1000);
  };
  grpcCallChannel.start.subscribe(onStart);
  grpcCallChannel.asyncEnd.subscribe(onEnd);
  return () => {
    grpcCallChannel.start.unsubscribe(onStart);
    grpcCallChannel.asyncEnd.unsubscribe(onEnd);
  };
}
