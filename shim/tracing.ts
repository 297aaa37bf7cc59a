// The shim's part of a trace: a Task call that arrives with a `traceparent`
// in its ttrpc metadata gets a server span, child of the caller's, active
// while the call runs (runc.ts hangs its runc invocations under it). The
// shim never starts traces of its own. Spans go to the collector named by
// OTEL_EXPORTER_OTLP_ENDPOINT, which berthd sets when its tracing is on;
// without it nothing is wrapped and nothing is loaded.

import { withActiveSpan } from '../core/tracing/active-span.js';
import { OTLP_ENDPOINT_ENV, OtlpHttpExporter } from '../core/tracing/otlp-exporter.js';
import { SpanKind } from '../core/tracing/span.js';
import { parseTraceparent } from '../core/tracing/traceparent.js';
import { Tracer } from '../core/tracing/tracer.js';
import type { ServiceDefinition } from '../core/ttrpc/definition.js';
import type { CallContext, ServiceImplementation } from '../core/ttrpc/server.js';

export interface ShimTracing {
  tracer: Tracer;
  /** Sends what is pending; before the shim exits. */
  shutdown(timeoutMs: number): Promise<void>;
}

/** The shim's tracer, or undefined when no collector is configured. */
export function shimTracing(
  version: string,
  onError: (msg: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): ShimTracing | undefined {
  const endpoint = env[OTLP_ENDPOINT_ENV];
  if (!endpoint) return undefined;
  let exporter: OtlpHttpExporter;
  try {
    exporter = new OtlpHttpExporter({
      endpoint,
      resource: {
        'service.name': 'berth-shim',
        'service.version': version,
        'process.pid': process.pid,
      },
      scope: { name: 'berth', version },
      onError,
    });
  } catch (err) {
    onError(`tracing off: ${(err as Error).message}`);
    return undefined;
  }
  // Every span has a parent here, so the ratio is never consulted.
  return { tracer: new Tracer(exporter), shutdown: (ms) => exporter.shutdown(ms) };
}

function first(ctx: CallContext, key: string): string | undefined {
  return ctx.metadata.get(key)?.[0];
}

/** `impl` with each unary method traced when its request carries a trace. */
export function tracedService<D extends ServiceDefinition>(
  definition: D,
  impl: ServiceImplementation<D>,
  tracer: Tracer,
): ServiceImplementation<D> {
  const out: Record<string, unknown> = { ...impl };
  for (const [key, method] of Object.entries(definition.methods)) {
    const fn = (impl as Record<string, unknown>)[key] as
      ((req: unknown, ctx: CallContext) => unknown) | undefined;
    if (!fn || method.requestStream || method.responseStream) continue;
    const name = `${definition.fullName}/${method.name}`;
    out[key] = (req: unknown, ctx: CallContext) => {
      const parent = parseTraceparent(first(ctx, 'traceparent'), first(ctx, 'tracestate'));
      if (!parent) return fn(req, ctx);
      const span = tracer.startSpan(name, {
        kind: SpanKind.Server,
        parent,
        attributes: {
          'rpc.system': 'ttrpc',
          'rpc.service': definition.fullName,
          'rpc.method': method.name,
        },
      });
      return withActiveSpan(span, async () => {
        try {
          return await fn(req, ctx);
        } catch (err) {
          span.fail(err);
          throw err;
        } finally {
          span.end();
        }
      });
    };
  }
  return out as ServiceImplementation<D>;
}
