// The span model: what one traced operation records between start and end.
// Deliberately small: ids, parent, name, kind, times, attributes and status,
// the fields OTLP needs (no events or links).

import { randomBytes } from 'node:crypto';
import type { SpanContext } from './traceparent.js';

/** OTLP's SpanKind numbers. */
export const SpanKind = { Internal: 1, Server: 2, Client: 3 } as const;
export type SpanKindValue = (typeof SpanKind)[keyof typeof SpanKind];

/** OTLP's status codes: unset (success by default), ok, error. */
export const StatusCode = { Unset: 0, Ok: 1, Error: 2 } as const;

export type AttributeValue = string | number | boolean;
export type Attributes = Record<string, AttributeValue>;

export interface SpanStatus {
  code: (typeof StatusCode)[keyof typeof StatusCode];
  message?: string;
}

// Wall-clock nanoseconds from one Date.now() anchor plus the monotonic clock,
// so durations are exact and a clock step cannot make a span end before it starts.
const anchorNs = BigInt(Date.now()) * 1_000_000n;
const anchorHr = process.hrtime.bigint();

export function nowNs(): bigint {
  return anchorNs + (process.hrtime.bigint() - anchorHr);
}

export function newTraceId(): string {
  return randomBytes(16).toString('hex');
}

export function newSpanId(): string {
  return randomBytes(8).toString('hex');
}

/** Where ended spans go (an exporter); only sampled spans reach it. */
export interface SpanSink {
  export(span: Span): void;
}

export class Span {
  readonly attributes: Attributes = {};
  status: SpanStatus = { code: StatusCode.Unset };
  readonly startNs = nowNs();
  endNs: bigint | undefined;

  constructor(
    readonly name: string,
    readonly kind: SpanKindValue,
    readonly context: SpanContext,
    readonly parentSpanId: string | undefined,
    private readonly sink: SpanSink | undefined,
  ) {}

  setAttribute(key: string, value: AttributeValue): this {
    this.attributes[key] = value;
    return this;
  }

  /** Marks the span failed with the error's message. */
  fail(err: unknown): this {
    this.status = { code: StatusCode.Error, message: (err as Error)?.message ?? String(err) };
    return this;
  }

  /** A span for part of this one's work, in the same trace and going to the same sink. */
  child(name: string, kind: SpanKindValue = SpanKind.Internal): Span {
    const { traceId, sampled, traceState } = this.context;
    const context = {
      traceId,
      spanId: newSpanId(),
      sampled,
      ...(traceState ? { traceState } : {}),
    };
    return new Span(name, kind, context, this.context.spanId, this.sink);
  }

  /** Ends the span once; a sampled span goes to the sink. */
  end(): void {
    if (this.endNs !== undefined) return;
    this.endNs = nowNs();
    if (this.context.sampled) this.sink?.export(this);
  }
}
