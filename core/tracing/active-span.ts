// The span an asynchronous call chain runs under, so code far from the server
// (a ttrpc call to a shim, a runc invocation) can hand the trace on without
// every function passing it. AsyncLocalStorage costs nothing until first used:
// a process that never traces never enables it.

import { AsyncLocalStorage } from 'node:async_hooks';
import type { Span } from './span.js';
import { formatTraceparent } from './traceparent.js';

const storage = new AsyncLocalStorage<Span>();
let used = false;

/** The storage itself, for binding to a diagnostics channel (`channel.bindStore`). */
export function activeSpanStorage(): AsyncLocalStorage<Span> {
  used = true;
  return storage;
}

/** The span the current call chain runs under, if any. */
export function activeSpan(): Span | undefined {
  return used ? storage.getStore() : undefined;
}

/** Runs `fn` (and everything it starts) under `span`. */
export function withActiveSpan<T>(span: Span, fn: () => T): T {
  used = true;
  return storage.run(span, fn);
}

/**
 * Runs `fn` as a named step of the active span: a child span, itself active
 * while `fn` runs, so steps inside it nest under it. Without an active span
 * (tracing off, or work outside a traced call) it is just `fn()`. A ttrpc call
 * made inside a step carries the step as its parent, so wrap local work
 * (processes, files, mounts), not calls to a shim.
 */
export function traceStep<T>(name: string, fn: () => T): T {
  const parent = activeSpan();
  if (!parent) return fn();
  const span = parent.child(name);
  return withActiveSpan(span, () => {
    let out: T;
    try {
      out = fn();
    } catch (err) {
      span.fail(err).end();
      throw err;
    }
    if (!(out instanceof Promise)) {
      span.end();
      return out;
    }
    return out.then(
      (v) => {
        span.end();
        return v;
      },
      (err: unknown) => {
        span.fail(err).end();
        throw err;
      },
    ) as T;
  });
}

/** The W3C headers naming `span` as the parent of what a request starts. */
export function traceHeaders(span: Span): { traceparent: string; tracestate?: string } {
  const { traceState } = span.context;
  return {
    traceparent: formatTraceparent(span.context),
    ...(traceState ? { tracestate: traceState } : {}),
  };
}

/** `traceparent` and `tracestate` of the active span, to put on an outgoing request. */
export function activeTraceHeaders(): { traceparent: string; tracestate?: string } | undefined {
  const span = activeSpan();
  return span && traceHeaders(span);
}

/** The same for a child process, in OpenTelemetry's environment carrier (TRACEPARENT, TRACESTATE). */
export function traceEnv(span: Span): Record<string, string> {
  const h = traceHeaders(span);
  return { TRACEPARENT: h.traceparent, ...(h.tracestate ? { TRACESTATE: h.tracestate } : {}) };
}
