// Where an operation's time goes, from its trace: each root span of a named
// operation (a gRPC server span) with its descendants, merged over all runs
// into one tree keyed by span names, each step with its median duration and
// its share of its parent's median. Spans of the same name under one parent
// (two runc calls, say) count as one step per run, their durations summed.
// A span that ends after its parent is background work the parent started
// (an exit watch's Task/Wait, say), not one of its steps: it is left out and
// named under the table.

import type { CollectedSpan } from './otlp-collector.js';
import { median } from './stats.js';
import { type Cell, printTable } from './table.js';

export interface StepNode {
  name: string;
  service: string;
  /** Per run of the operation that had this step: the summed duration of its spans, ms. */
  ms: number[];
  /** Per run that had it: how many spans. */
  calls: number[];
  /** Per run: time in these spans not covered by any child span, ms. */
  uncoveredMs: number[];
  children: Map<string, StepNode>;
  /** Names of child spans left out because they outlived this step. */
  outlived: Set<string>;
}

const nsToMs = (ns: bigint) => Number(ns) / 1e6;
const durationMs = (s: CollectedSpan) => nsToMs(s.endNs - s.startNs);
const key = (traceId: string, spanId: string) => `${traceId}/${spanId}`;
/** Processes take their span clocks from Date.now() (1 ms steps): ends this close are not "after". */
const CLOCK_SLACK_NS = 2_000_000n;

/** Milliseconds of [start, end) covered by the union of `parts`, each clipped to it. */
export function coveredMs(start: bigint, end: bigint, parts: CollectedSpan[]): number {
  const iv = parts
    .map((p): [bigint, bigint] => [
      p.startNs < start ? start : p.startNs,
      p.endNs > end ? end : p.endNs,
    ])
    .filter(([a, b]) => b > a)
    .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  let total = 0n;
  let curStart: bigint | undefined;
  let curEnd = 0n;
  for (const [a, b] of iv) {
    if (curStart === undefined || a > curEnd) {
      if (curStart !== undefined) total += curEnd - curStart;
      curStart = a;
      curEnd = b;
    } else if (b > curEnd) curEnd = b;
  }
  if (curStart !== undefined) total += curEnd - curStart;
  return nsToMs(total);
}

function newNode(name: string, service: string): StepNode {
  return {
    name,
    service,
    ms: [],
    calls: [],
    uncoveredMs: [],
    children: new Map(),
    outlived: new Set(),
  };
}

/**
 * One tree per operation name in `operations`, from the root spans of that name
 * that started at or after `fromNs` (so warm-up runs stay out).
 */
export function stepTrees(
  spans: readonly CollectedSpan[],
  operations: readonly string[],
  fromNs = 0n,
): Map<string, StepNode> {
  const byId = new Map<string, CollectedSpan>();
  for (const s of spans) byId.set(key(s.traceId, s.spanId), s);
  const children = new Map<string, CollectedSpan[]>();
  for (const s of spans) {
    if (!s.parentSpanId) continue;
    const k = key(s.traceId, s.parentSpanId);
    const list = children.get(k);
    if (list) list.push(s);
    else children.set(k, [s]);
  }

  /** Adds one run's group of same-named sibling spans to `node`, then their children. */
  const add = (group: CollectedSpan[], node: StepNode) => {
    const childrenOf = (s: CollectedSpan) =>
      (children.get(key(s.traceId, s.spanId)) ?? []).filter((c) => {
        if (c.endNs <= s.endNs + CLOCK_SLACK_NS) return true;
        node.outlived.add(c.name);
        return false;
      });
    node.ms.push(group.reduce((a, s) => a + durationMs(s), 0));
    node.calls.push(group.length);
    node.uncoveredMs.push(
      group.reduce((a, s) => a + durationMs(s) - coveredMs(s.startNs, s.endNs, childrenOf(s)), 0),
    );
    const byName = new Map<string, CollectedSpan[]>();
    for (const c of group.flatMap(childrenOf)) {
      const list = byName.get(c.name);
      if (list) list.push(c);
      else byName.set(c.name, [c]);
    }
    for (const [name, list] of byName) {
      let child = node.children.get(name);
      if (!child) node.children.set(name, (child = newNode(name, list[0]!.service)));
      add(list, child);
    }
  };

  const trees = new Map<string, StepNode>();
  for (const s of spans) {
    if (!operations.includes(s.name) || s.startNs < fromNs) continue;
    // A root here: no parent, or one this collector never saw (a caller's span).
    if (s.parentSpanId && byId.has(key(s.traceId, s.parentSpanId))) continue;
    let tree = trees.get(s.name);
    if (!tree) trees.set(s.name, (tree = newNode(s.name, s.service)));
    add([s], tree);
  }
  return trees;
}

const pct = (part: number, whole: number) =>
  whole > 0 ? `${((100 * part) / whole).toFixed(0)}%` : undefined;

/** The tree as table rows, indented by depth, each level's children largest first. */
export function stepRows(root: StepNode, shortName: (name: string) => string = (n) => n): Cell[][] {
  const runs = root.ms.length;
  const rows: Cell[][] = [];
  const walk = (node: StepNode, depth: number, parentMedian: number | undefined) => {
    const m = median(node.ms);
    const indent = '  '.repeat(depth);
    rows.push([
      `${indent}${depth === 0 ? shortName(node.name) : node.name}`,
      node.service,
      `${node.ms.length}/${runs}`,
      (node.calls.reduce((a, b) => a + b, 0) / node.ms.length).toFixed(1),
      m,
      parentMedian === undefined ? undefined : pct(m, parentMedian),
    ]);
    if (node.children.size === 0) return;
    const kids = [...node.children.values()].sort((a, b) => median(b.ms) - median(a.ms));
    for (const k of kids) walk(k, depth + 1, m);
    const rest = median(node.uncoveredMs);
    rows.push([`${indent}  (not in a child span)`, node.service, '', '', rest, pct(rest, m)]);
  };
  walk(root, 0, undefined);
  return rows;
}

export const STEP_HEADER = ['step', 'process', 'runs', 'spans/run', 'median ms', 'of parent'];

/** One table per operation, in the order given; operations that left no span are named. */
export function printStepTables(
  title: string,
  trees: Map<string, StepNode>,
  operations: readonly string[],
  shortName?: (name: string) => string,
): void {
  const rows: Cell[][] = [];
  const missing: string[] = [];
  for (const op of operations) {
    const tree = trees.get(op);
    if (!tree) {
      missing.push(op);
      continue;
    }
    if (rows.length > 0) rows.push(['', '', '', '', '', '']);
    rows.push(...stepRows(tree, shortName));
  }
  printTable(title, STEP_HEADER, rows, { digits: 2 });
  for (const op of operations) {
    const tree = trees.get(op);
    const names = tree ? [...outlivedNames(tree)] : [];
    if (names.length === 0) continue;
    const label = shortName ? shortName(op) : op;
    process.stdout.write(`(${label}: left out, ending after their parent: ${names.join(', ')})\n`);
  }
  if (missing.length > 0) process.stdout.write(`(no spans for ${missing.join(', ')})\n`);
}

function outlivedNames(node: StepNode, into = new Set<string>()): Set<string> {
  for (const n of node.outlived) into.add(n);
  for (const c of node.children.values()) outlivedNames(c, into);
  return into;
}
