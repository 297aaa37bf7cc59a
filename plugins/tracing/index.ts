// berthd's tracing (`[tracing] endpoint`, off when empty): a server span per
// gRPC call, exported over OTLP/HTTP JSON. Shims started while it is on get
// the collector's address in their environment and export their own spans,
// children of the daemon's, to the same place.

import type { Logger } from 'pino';
import { OTLP_ENDPOINT_ENV, OtlpHttpExporter } from '../../core/tracing/otlp-exporter.js';
import { Tracer } from '../../core/tracing/tracer.js';
import { VERSION } from '../../core/version.js';
import { traceGrpcCalls } from './grpc-spans.js';

export interface TracingSettings {
  /** Collector base URL, e.g. `http://127.0.0.1:4318`. */
  endpoint: string;
  /** Share of new traces recorded (0 to 1); calls with a parent follow the parent's choice. */
  samplingRatio: number;
  serviceName: string;
}

export interface Tracing {
  close(): Promise<void>;
}

export function startTracing(s: TracingSettings, log: Logger): Tracing {
  const exporter = new OtlpHttpExporter({
    endpoint: s.endpoint,
    resource: { 'service.name': s.serviceName, 'service.version': VERSION },
    scope: { name: 'berth', version: VERSION },
    onError: (msg) => log.warn(`tracing: ${msg}`),
  });
  const unsubscribe = traceGrpcCalls(new Tracer(exporter, s.samplingRatio));
  // Before any shim starts (spares are launched while plugins initialise).
  const previous = process.env[OTLP_ENDPOINT_ENV];
  process.env[OTLP_ENDPOINT_ENV] = s.endpoint;
  log.info({ endpoint: exporter.url.href, samplingRatio: s.samplingRatio }, 'tracing on');
  return {
    async close() {
      unsubscribe();
      if (previous === undefined) delete process.env[OTLP_ENDPOINT_ENV];
      else process.env[OTLP_ENDPOINT_ENV] = previous;
      await exporter.shutdown();
      if (exporter.dropped > 0) log.warn({ dropped: exporter.dropped }, 'tracing: spans dropped');
    },
  };
}
