import { describe, expect, it } from 'vitest';
import { activeSpan, activeTraceHeaders, traceEnv, withActiveSpan } from './active-span.js';
import { type Span, SpanKind } from './span.js';
import { Tracer } from './tracer.js';

function memorySink() {
  const spans: Span[] = [];
  return { spans, export: (s: Span) => spans.push(s) };
}

describe('tracer', () => {
  it('starts a child of a remote parent in its trace, following its sampling', () => {
    const sink = memorySink();
    const t = new Tracer(sink, 0);
    const parent = {
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
      sampled: true,
      traceState: 'k=v',
    };
    const s = t.startSpan('x/Y', { kind: SpanKind.Server, parent, attributes: { n: 1 } });
    expect(s.context.traceId).toBe(parent.traceId);
    expect(s.context.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(s.context.spanId).not.toBe(parent.spanId);
    expect(s.parentSpanId).toBe(parent.spanId);
    expect(s.context.traceState).toBe('k=v');
    expect(s.attributes).toEqual({ n: 1 });
    s.end();
    s.end();
    expect(sink.spans).toEqual([s]);
    expect(s.endNs! >= s.startNs).toBe(true);
  });

  it('records an unsampled parent nowhere, and roots by the ratio', () => {
    const sink = memorySink();
    const none = new Tracer(sink, 0);
    none
      .startSpan('a', {
        parent: { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), sampled: false },
      })
      .end();
    none.startSpan('root').end();
    expect(sink.spans).toEqual([]);
    const all = new Tracer(sink, 1);
    const root = all.startSpan('root');
    expect(root.parentSpanId).toBeUndefined();
    expect(root.context.traceId).toMatch(/^[0-9a-f]{32}$/);
    root.end();
    expect(sink.spans).toEqual([root]);
  });

  it('makes children in the same trace and the same sink', () => {
    const sink = memorySink();
    const root = new Tracer(sink).startSpan('root');
    const child = root.child('runc create');
    expect(child.context.traceId).toBe(root.context.traceId);
    expect(child.parentSpanId).toBe(root.context.spanId);
    child.fail(new Error('boom')).end();
    expect(sink.spans[0]!.status).toEqual({ code: 2, message: 'boom' });
  });

  it('carries the active span across awaits, and out as headers and environment', async () => {
    const root = new Tracer(memorySink()).startSpan('root');
    expect(activeSpan()).toBeUndefined();
    expect(activeTraceHeaders()).toBeUndefined();
    await withActiveSpan(root, async () => {
      await new Promise((r) => setTimeout(r, 1));
      expect(activeSpan()).toBe(root);
      const h = activeTraceHeaders()!;
      expect(h.traceparent).toBe(`00-${root.context.traceId}-${root.context.spanId}-01`);
      expect(traceEnv(root)).toEqual({ TRACEPARENT: h.traceparent });
    });
    expect(activeSpan()).toBeUndefined();
  });
});
