import { describe, expect, it } from 'vitest';
import { activeSpan, traceStep, withActiveSpan } from './active-span.js';
import { type Span, StatusCode } from './span.js';
import { Tracer } from './tracer.js';

function traced() {
  const spans: Span[] = [];
  const root = new Tracer({ export: (s) => spans.push(s) }).startSpan('root');
  return { spans, root };
}

describe('traceStep', () => {
  it('runs the function alone when no span is active', async () => {
    expect(activeSpan()).toBeUndefined();
    expect(traceStep('step', () => 7)).toBe(7);
    await expect(traceStep('step', async () => 8)).resolves.toBe(8);
  });

  it('records an async step as a child of the active span, active while it runs', async () => {
    const { spans, root } = traced();
    let inside: Span | undefined;
    const v = await withActiveSpan(root, () =>
      traceStep('outer', async () => {
        await traceStep('inner', async () => {
          inside = activeSpan();
        });
        return 'done';
      }),
    );
    expect(v).toBe('done');
    expect(spans.map((s) => s.name)).toEqual(['inner', 'outer']);
    const [inner, outer] = spans;
    expect(outer!.parentSpanId).toBe(root.context.spanId);
    expect(inner!.parentSpanId).toBe(outer!.context.spanId);
    expect(inside).toBe(inner);
    expect(inner!.context.traceId).toBe(root.context.traceId);
    // The step is over: the caller's span is active again.
    expect(withActiveSpan(root, () => activeSpan())).toBe(root);
  });

  it('ends a synchronous step before returning its value', () => {
    const { spans, root } = traced();
    const v = withActiveSpan(root, () => traceStep('sync', () => 'x'));
    expect(v).toBe('x');
    expect(spans).toHaveLength(1);
    expect(spans[0]!.endNs).toBeDefined();
  });

  it('marks a failed step and passes its error on, thrown or rejected', async () => {
    const { spans, root } = traced();
    expect(() =>
      withActiveSpan(root, () =>
        traceStep('throws', () => {
          throw new Error('boom');
        }),
      ),
    ).toThrow('boom');
    await expect(
      withActiveSpan(root, () =>
        traceStep('rejects', async () => {
          throw new Error('bang');
        }),
      ),
    ).rejects.toThrow('bang');
    expect(spans.map((s) => [s.name, s.status])).toEqual([
      ['throws', { code: StatusCode.Error, message: 'boom' }],
      ['rejects', { code: StatusCode.Error, message: 'bang' }],
    ]);
  });
});
