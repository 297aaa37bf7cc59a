// Spans as an OTLP/HTTP JSON ExportTraceServiceRequest. The JSON mapping of
// the OTLP protobufs, with OTLP's own rules: trace and span ids in hex (not
// base64), enums as numbers, 64-bit integers as decimal strings.

import type { AttributeValue, Attributes, Span } from './span.js';

export interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string;
  doubleValue?: number;
}

export interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpKeyValue[];
  status: { code: number; message?: string };
}

export interface OtlpTraceRequest {
  resourceSpans: {
    resource: { attributes: OtlpKeyValue[] };
    scopeSpans: { scope: { name: string; version?: string }; spans: OtlpSpan[] }[];
  }[];
}

export function otlpValue(v: AttributeValue): OtlpAnyValue {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  return Number.isSafeInteger(v) ? { intValue: String(v) } : { doubleValue: v };
}

export function otlpAttributes(attrs: Attributes): OtlpKeyValue[] {
  return Object.entries(attrs).map(([key, v]) => ({ key, value: otlpValue(v) }));
}

export function otlpSpan(s: Span): OtlpSpan {
  return {
    traceId: s.context.traceId,
    spanId: s.context.spanId,
    ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
    ...(s.context.traceState ? { traceState: s.context.traceState } : {}),
    name: s.name,
    kind: s.kind,
    startTimeUnixNano: s.startNs.toString(),
    endTimeUnixNano: (s.endNs ?? s.startNs).toString(),
    attributes: otlpAttributes(s.attributes),
    status: s.status.message ? { ...s.status } : { code: s.status.code },
  };
}

/** One request for `spans`, all from one resource (the process) and one scope (Berth). */
export function otlpTraceRequest(
  spans: readonly Span[],
  resource: Attributes,
  scope: { name: string; version?: string },
): OtlpTraceRequest {
  return {
    resourceSpans: [
      {
        resource: { attributes: otlpAttributes(resource) },
        scopeSpans: [{ scope, spans: spans.map(otlpSpan) }],
      },
    ],
  };
}
