// W3C Trace Context: the `traceparent` header ("00-<trace-id>-<parent-id>-<flags>")
// that carries a span's identity across processes, and `tracestate`, passed
// along untouched. https://www.w3.org/TR/trace-context/

/** The identity of a span as it travels between processes. */
export interface SpanContext {
  /** 32 lowercase hex digits, not all zero. */
  traceId: string;
  /** 16 lowercase hex digits, not all zero. */
  spanId: string;
  /** The caller recorded this trace (flag 01): its children are recorded too. */
  sampled: boolean;
  /** The vendor `tracestate` list, opaque to us. */
  traceState?: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
/** The spec lets receivers drop a tracestate longer than this. */
const MAX_TRACESTATE = 512;

/**
 * The span context a `traceparent` names, or undefined when the header is
 * absent or malformed (a bad header starts a new trace; it never fails a call).
 */
export function parseTraceparent(
  header: string | undefined,
  traceState?: string,
): SpanContext | undefined {
  if (!header) return undefined;
  const m = TRACEPARENT.exec(header.trim());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as string[];
  // Version ff is invalid; version 00 has exactly four fields. A later version
  // may append fields, which we ignore, as the spec asks.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  const state = traceState?.trim();
  return {
    traceId: traceId!,
    spanId: spanId!,
    sampled: (parseInt(flags!, 16) & 1) === 1,
    ...(state && state.length <= MAX_TRACESTATE ? { traceState: state } : {}),
  };
}

/** The `traceparent` header for a span context (version 00). */
export function formatTraceparent(ctx: SpanContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${ctx.sampled ? '01' : '00'}`;
}
