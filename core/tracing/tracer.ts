// Starts spans: a child of a remote or local parent keeps the parent's trace
// and its sampling decision; a root span is sampled with the configured ratio.

import {
  type Attributes,
  type SpanKindValue,
  type SpanSink,
  Span,
  SpanKind,
  newSpanId,
  newTraceId,
} from './span.js';
import type { SpanContext } from './traceparent.js';

export interface StartSpanOptions {
  kind?: SpanKindValue;
  /** The parent: an incoming `traceparent`, or a span of this process. */
  parent?: SpanContext;
  attributes?: Attributes;
}

export class Tracer {
  /**
   * `samplingRatio` (0 to 1) applies to root spans only; spans with a parent
   * follow the parent's decision, so a trace is recorded whole or not at all.
   */
  constructor(
    private readonly sink: SpanSink,
    private readonly samplingRatio = 1,
  ) {}

  startSpan(name: string, opts: StartSpanOptions = {}): Span {
    const parent = opts.parent;
    const context: SpanContext = parent
      ? {
          traceId: parent.traceId,
          spanId: newSpanId(),
          sampled: parent.sampled,
          ...(parent.traceState ? { traceState: parent.traceState } : {}),
        }
      : { traceId: newTraceId(), spanId: newSpanId(), sampled: this.sampleRoot() };
    const span = new Span(name, opts.kind ?? SpanKind.Internal, context, parent?.spanId, this.sink);
    if (opts.attributes) Object.assign(span.attributes, opts.attributes);
    return span;
  }

  private sampleRoot(): boolean {
    return this.samplingRatio >= 1 || Math.random() < this.samplingRatio;
  }
}
