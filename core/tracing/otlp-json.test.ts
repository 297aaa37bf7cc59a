import { describe, expect, it } from 'vitest';
import { otlpTraceRequest, otlpValue } from './otlp-json.js';
import { Span, SpanKind } from './span.js';

describe('OTLP JSON', () => {
  it('maps attribute values to OTLP AnyValues', () => {
    expect(otlpValue('s')).toEqual({ stringValue: 's' });
    expect(otlpValue(true)).toEqual({ boolValue: true });
    expect(otlpValue(42)).toEqual({ intValue: '42' });
    expect(otlpValue(0.5)).toEqual({ doubleValue: 0.5 });
  });

  it('writes one resource and scope with hex ids, numeric enums and string nanoseconds', () => {
    const ctx = { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), sampled: true };
    const s = new Span(
      'runtime.v1.RuntimeService/RunPodSandbox',
      SpanKind.Server,
      ctx,
      'c'.repeat(16),
      undefined,
    );
    s.setAttribute('rpc.system', 'grpc').setAttribute('rpc.grpc.status_code', 0);
    s.end();
    const doc = otlpTraceRequest(
      [s],
      { 'service.name': 'berthd' },
      { name: 'berth', version: '1' },
    );
    // A JSON round trip: what the collector receives.
    const json = JSON.parse(JSON.stringify(doc));
    expect(json.resourceSpans).toHaveLength(1);
    expect(json.resourceSpans[0].resource.attributes).toEqual([
      { key: 'service.name', value: { stringValue: 'berthd' } },
    ]);
    const scope = json.resourceSpans[0].scopeSpans[0];
    expect(scope.scope).toEqual({ name: 'berth', version: '1' });
    const span = scope.spans[0];
    expect(span).toMatchObject({
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
      parentSpanId: 'c'.repeat(16),
      name: 'runtime.v1.RuntimeService/RunPodSandbox',
      kind: 2,
      status: { code: 0 },
      attributes: [
        { key: 'rpc.system', value: { stringValue: 'grpc' } },
        { key: 'rpc.grpc.status_code', value: { intValue: '0' } },
      ],
    });
    expect(span.startTimeUnixNano).toMatch(/^\d{19}$/);
    expect(BigInt(span.endTimeUnixNano) >= BigInt(span.startTimeUnixNano)).toBe(true);
    // Wall-clock nanoseconds: within a minute of now.
    const ms = Number(BigInt(span.startTimeUnixNano) / 1_000_000n);
    expect(Math.abs(ms - Date.now())).toBeLessThan(60_000);
  });

  it('leaves out the parent of a root span and carries an error status message', () => {
    const ctx = {
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
      sampled: true,
      traceState: 'k=v',
    };
    const s = new Span('x', SpanKind.Internal, ctx, undefined, undefined).fail(new Error('no'));
    s.end();
    const span = otlpTraceRequest([s], {}, { name: 'berth' }).resourceSpans[0]!.scopeSpans[0]!
      .spans[0]!;
    expect(span.parentSpanId).toBeUndefined();
    expect(span.traceState).toBe('k=v');
    expect(span.status).toEqual({ code: 2, message: 'no' });
  });
});
