import { describe, expect, it } from 'vitest';
import { formatFamilies } from './exposition.js';
import { Registry, family } from './registry.js';

describe('metrics registry', () => {
  it('counts per label values and refuses to go down', () => {
    const r = new Registry();
    const c = r.counter('calls_total', 'Calls.', ['method']);
    c.inc(['a']);
    c.inc(['a'], 2);
    c.inc(['b']);
    expect(c.family().samples.map((s) => [s.labels, s.value])).toEqual([
      [[['method', 'a']], 3],
      [[['method', 'b']], 1],
    ]);
    expect(() => c.inc(['a'], -1)).toThrow(/only goes up/);
    expect(() => c.inc([])).toThrow(/label values/);
  });

  it('renders histograms with cumulative buckets, +Inf, sum and count', () => {
    const r = new Registry();
    const h = r.histogram('req_seconds', 'Latency.', ['m'], [0.1, 1]);
    for (const v of [0.05, 0.1, 0.5, 3]) h.observe(['x'], v);
    expect(formatFamilies([h.family()])).toBe(
      [
        '# HELP req_seconds Latency.',
        '# TYPE req_seconds histogram',
        'req_seconds_bucket{m="x",le="0.1"} 2',
        'req_seconds_bucket{m="x",le="1"} 3',
        'req_seconds_bucket{m="x",le="+Inf"} 4',
        'req_seconds_sum{m="x"} 3.65',
        'req_seconds_count{m="x"} 4',
        '',
      ].join('\n'),
    );
  });

  it('refuses bad names and buckets', () => {
    expect(() => new Registry().counter('bad-name', 'x')).toThrow(/metric name/);
    expect(() => new Registry().counter('ok', 'x', ['le'])).toThrow(/label name/);
    expect(() => new Registry().histogram('h', 'x', [], [1, 1])).toThrow(/increasing/);
    expect(() => new Registry().histogram('h', 'x', [], [])).toThrow(/increasing/);
  });

  it('merges collected families of one name, sorts by name, and survives a failing collector', async () => {
    const r = new Registry();
    r.counter('b_total', 'B.').inc();
    r.collect(() => [family('a', 'A.', 'gauge', ['n'], [[['1'], 1]])]);
    r.collect(async () => [family('a', 'A.', 'gauge', ['n'], [[['2'], 2]])]);
    r.collect(() => {
      throw new Error('shim gone');
    });
    const errors: unknown[] = [];
    const fams = await r.gather((e) => errors.push(e));
    expect(fams.map((f) => f.name)).toEqual(['a', 'b_total']);
    expect(fams[0]!.samples.map((s) => s.value).sort()).toEqual([1, 2]);
    expect((errors[0] as Error).message).toBe('shim gone');
  });
});
