import { describe, expect, it } from 'vitest';
import type { CollectedSpan } from './otlp-collector.js';
import { coveredMs, stepRows, stepTrees } from './span-steps.js';

const MS = 1_000_000n;
let seq = 0;

/** A span from `start` to `end` ms, under `parent` (same trace) when given. */
function span(
  name: string,
  start: number,
  end: number,
  parent?: CollectedSpan,
  trace = parent?.traceId ?? `t${++seq}`,
): CollectedSpan {
  return {
    service: parent ? 'child-svc' : 'root-svc',
    traceId: trace,
    spanId: `s${++seq}`,
    ...(parent ? { parentSpanId: parent.spanId } : {}),
    name,
    startNs: BigInt(start) * MS,
    endNs: BigInt(end) * MS,
  };
}

describe('coveredMs', () => {
  it('counts overlapping parts once and clips them to the window', () => {
    const parts = [span('a', 0, 4), span('b', 2, 6), span('c', 8, 12), span('d', 20, 30)];
    expect(coveredMs(1n * MS, 10n * MS, parts)).toBe(5 + 2);
    expect(coveredMs(0n, 1n * MS, [])).toBe(0);
  });
});

describe('stepTrees', () => {
  it('merges the runs of an operation by span name, summing same-named siblings', () => {
    const r1 = span('Op', 0, 100);
    const r1b1 = span('b', 10, 20, r1);
    const r1b2 = span('b', 30, 50, r1); // a second "b" in the same run: 10 + 20 ms
    const r1c = span('c', 12, 18, r1b1);
    const r2 = span('Op', 200, 260);
    const r2b = span('b', 210, 240, r2);
    const trees = stepTrees([r1, r1b1, r1b2, r1c, r2, r2b], ['Op']);
    const op = trees.get('Op')!;
    expect(op.ms).toEqual([100, 60]);
    const b = op.children.get('b')!;
    expect(b.ms).toEqual([30, 30]);
    expect(b.calls).toEqual([2, 1]);
    // Only the first run had a "c" under its "b".
    expect(b.children.get('c')!.ms).toEqual([6]);
    expect(op.uncoveredMs).toEqual([70, 30]);
    expect(b.uncoveredMs).toEqual([24, 30]);
  });

  it('leaves out children that end after their parent, and names them', () => {
    const r = span('Op', 0, 50);
    const wait = span('Task/Wait', 5, 400, r);
    const step = span('step', 10, 20, r);
    const op = stepTrees([r, wait, step], ['Op']).get('Op')!;
    expect([...op.children.keys()]).toEqual(['step']);
    expect(op.outlived).toEqual(new Set(['Task/Wait']));
    expect(op.uncoveredMs).toEqual([40]);
  });

  it('takes roots only, after `fromNs`, and a span whose parent was never seen as a root', () => {
    const warm = span('Op', 0, 10);
    const remoteParent = { ...span('caller', 0, 1000), spanId: 'unseen' };
    const measured = span('Op', 100, 130, remoteParent);
    const nested = span('Op', 110, 120, measured); // an Op inside an Op is a step, not a run
    const trees = stepTrees([warm, measured, nested], ['Op'], 50n * MS);
    expect(trees.get('Op')!.ms).toEqual([30]);
    expect(trees.get('Op')!.children.get('Op')!.ms).toEqual([10]);
  });
});

describe('stepRows', () => {
  it('indents children under their parent, largest first, with their share and the rest', () => {
    const r = span('pkg.Service/Op', 0, 100);
    const small = span('small', 0, 10, r);
    const big = span('big', 20, 60, r);
    const rows = stepRows(
      stepTrees([r, small, big], ['pkg.Service/Op']).get('pkg.Service/Op')!,
      (n) => n.replace(/^pkg\./, ''),
    );
    expect(rows).toEqual([
      ['Service/Op', 'root-svc', '1/1', '1.0', 100, undefined],
      ['  big', 'child-svc', '1/1', '1.0', 40, '40%'],
      ['  small', 'child-svc', '1/1', '1.0', 10, '10%'],
      ['  (not in a child span)', 'root-svc', '', '', 50, '50%'],
    ]);
  });
});
