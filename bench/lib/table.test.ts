import { afterEach, describe, expect, it, vi } from 'vitest';
import { bestOf, printComparison, versusBest } from './table.js';

describe('bestOf', () => {
  it('takes the lowest figure, or the highest when higher is better', () => {
    expect(bestOf([9, 4, 6], [1, 2])).toBe(4);
    expect(bestOf([9, 4, 6], [1, 2], true)).toBe(6);
  });

  it('skips absent figures and is undefined when none is present', () => {
    expect(bestOf([9, undefined, 6], [1, 2])).toBe(6);
    expect(bestOf([9, undefined, Number.NaN], [1, 2])).toBeUndefined();
  });
});

describe('versusBest', () => {
  const labels = ['Berth', 'containerd', 'containerd2'];

  it('is a plain a/b column against a single other subject', () => {
    expect(versusBest(labels.slice(0, 2), 0, [1], 'containerd')).toEqual({
      of: 0,
      among: [1],
      label: 'Berth/containerd',
    });
  });

  it('names the group and explains itself against several', () => {
    const best = versusBest(labels, 0, [1, 2], 'containerd');
    expect(best?.label).toBe('Berth/best containerd');
    expect(best?.note).toContain('the better of containerd and containerd2');
  });

  it('is undefined without the subject or anyone to compare with', () => {
    expect(versusBest(labels, -1, [1, 2], 'containerd')).toBeUndefined();
    expect(versusBest(labels, 0, [], 'containerd')).toBeUndefined();
  });
});

describe('printComparison with a best-of column', () => {
  afterEach(() => vi.restoreAllMocks());

  it('divides by the better containerd of each row, per the row direction', () => {
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      out += String(s);
      return true;
    });
    const labels = ['Berth', 'containerd', 'containerd2'];
    printComparison({
      title: 't',
      subjects: labels,
      ratios: [],
      best: versusBest(labels, 0, [1, 2], 'containerd'),
      rows: [
        { metric: 'latency', values: [30, 10, 20] },
        { metric: 'throughput', values: [30, 10, 20], higherIsBetter: true },
        { metric: 'missing', values: [30, undefined, 15] },
        { metric: 'change', values: [3, 1, -1] },
      ],
    });
    const row = (m: string) =>
      out
        .split('\n')
        .find((l) => l.startsWith(m))
        ?.split(/\s+/);
    expect(row('latency')?.at(-1)).toBe('3.00');
    expect(row('throughput')?.at(-1)).toBe('1.50');
    expect(row('missing')?.at(-1)).toBe('2.00');
    // No ratio against a figure that is not positive: it would say nothing.
    expect(row('change')?.at(-1)).toBe('-');
    expect(out).toContain('Berth/best containerd: Berth over the better of');
  });
});
