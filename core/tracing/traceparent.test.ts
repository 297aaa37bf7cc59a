import { describe, expect, it } from 'vitest';
import { formatTraceparent, parseTraceparent } from './traceparent.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('traceparent', () => {
  it('parses a sampled header and formats it back', () => {
    const h = `00-${TRACE}-${SPAN}-01`;
    const ctx = parseTraceparent(h, 'congo=t61rcWkgMzE');
    expect(ctx).toEqual({
      traceId: TRACE,
      spanId: SPAN,
      sampled: true,
      traceState: 'congo=t61rcWkgMzE',
    });
    expect(formatTraceparent(ctx!)).toBe(h);
  });

  it('reads the sampled bit alone from the flags', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)?.sampled).toBe(false);
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-03`)?.sampled).toBe(true);
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-02`)?.sampled).toBe(false);
  });

  it('accepts a later version with extra fields, ignoring them', () => {
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01-extra`)?.traceId).toBe(TRACE);
  });

  it.each([
    ['empty', ''],
    ['missing', undefined],
    ['version ff', `ff-${TRACE}-${SPAN}-01`],
    ['extra field on version 00', `00-${TRACE}-${SPAN}-01-x`],
    ['zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['short trace id', `00-${TRACE.slice(1)}-${SPAN}-01`],
    ['garbage', 'not a header'],
  ])('rejects %s', (_what, h) => {
    expect(parseTraceparent(h)).toBeUndefined();
  });

  it('drops an oversized tracestate but keeps the parent', () => {
    const ctx = parseTraceparent(`00-${TRACE}-${SPAN}-01`, `a=${'x'.repeat(600)}`);
    expect(ctx?.traceId).toBe(TRACE);
    expect(ctx?.traceState).toBeUndefined();
  });
});
