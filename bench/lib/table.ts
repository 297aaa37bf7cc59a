// Plain-text tables for benchmark results: a title, a header, right-aligned
// numbers, and a comparison layout with ratio columns.

export type Cell = string | number | undefined;

export interface TableOptions {
  /** Decimal places for numbers (default 1). */
  digits?: number;
}

function cellText(c: Cell, digits: number): string {
  if (c === undefined || (typeof c === 'number' && Number.isNaN(c))) return '-';
  return typeof c === 'number' ? c.toFixed(digits) : c;
}

/** A table as text: first column left-aligned, the others right-aligned. */
export function formatTable(header: string[], rows: Cell[][], opts: TableOptions = {}): string {
  const digits = opts.digits ?? 1;
  const text = [header, ...rows.map((r) => r.map((c) => cellText(c, digits)))];
  const widths = header.map((_, i) => Math.max(...text.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(text[0]!), rule, ...text.slice(1).map(line)].join('\n');
}

export function printTable(
  title: string,
  header: string[],
  rows: Cell[][],
  opts?: TableOptions,
): void {
  process.stdout.write(`\n${title}\n\n${formatTable(header, rows, opts)}\n`);
}

export interface ComparisonRow {
  metric: string;
  /** One value per subject, in the order of `subjects`. */
  values: (number | undefined)[];
  /** Decimal places for this row's values (default 1). */
  digits?: number;
  /** Higher figures are better (throughput): a BestRatio then takes the highest. */
  higherIsBetter?: boolean;
}

/**
 * One ratio column of subject `of` against the best of `among` on each row:
 * the lowest figure, or the highest on rows marked higherIsBetter.
 */
export interface BestRatio {
  of: number;
  among: number[];
  /** Column header. */
  label: string;
  /** Printed under the table: how the column is computed. */
  note?: string;
}

export interface Comparison {
  title: string;
  /** Column labels of the measured subjects, e.g. ["Berth", "containerd"]. */
  subjects: string[];
  /** Ratio columns as [numerator, denominator] indexes into `subjects`. */
  ratios: [number, number][];
  /** A last ratio column against the best of several subjects. */
  best?: BestRatio;
  rows: ComparisonRow[];
}

export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || b === 0) return undefined;
  return a / b;
}

/** The best of `among` in `values`: the lowest, or the highest when higher is better. */
export function bestOf(
  values: (number | undefined)[],
  among: number[],
  higherIsBetter = false,
): number | undefined {
  const present = among
    .map((i) => values[i])
    .filter((v): v is number => v !== undefined && !Number.isNaN(v));
  if (present.length === 0) return undefined;
  return higherIsBetter ? Math.max(...present) : Math.min(...present);
}

/** A row's figure over the best of the others; none when that is not positive (a change, say). */
function bestRatio(r: ComparisonRow, best: BestRatio): number | undefined {
  const b = bestOf(r.values, best.among, r.higherIsBetter);
  return b !== undefined && b > 0 ? ratio(r.values[best.of], b) : undefined;
}

/**
 * `subject` against the best of `others` (indexes into `subjects`): a plain
 * "a/b" column when there is one other, "a/best <group>" with a note when
 * there are more. Undefined when either side is absent.
 */
export function versusBest(
  subjects: string[],
  subject: number,
  others: number[],
  group: string,
): BestRatio | undefined {
  if (subject < 0 || others.length === 0) return undefined;
  const of = subjects[subject]!;
  if (others.length === 1)
    return { of: subject, among: others, label: `${of}/${subjects[others[0]!]}` };
  const label = `${of}/best ${group}`;
  const names = others.map((i) => subjects[i]!);
  return {
    of: subject,
    among: others,
    label,
    note: `${label}: ${of} over the better of ${names.slice(0, -1).join(', ')} and ${names.at(-1)} on each row (the lower figure; the higher for throughput)`,
  };
}

/**
 * Subjects side by side, then one "a/b" column per requested ratio and the
 * best-of ratio column, if any (two decimals).
 */
export function printComparison(c: Comparison): void {
  const best = c.best;
  const header = [
    'metric',
    ...c.subjects,
    ...c.ratios.map(([a, b]) => `${c.subjects[a]}/${c.subjects[b]}`),
    ...(best ? [best.label] : []),
  ];
  const rows = c.rows.map((r) => {
    const digits = r.digits ?? 1;
    return [
      r.metric,
      ...r.values.map((v) => cellText(v, digits)),
      ...c.ratios.map(([a, b]) => cellText(ratio(r.values[a], r.values[b]), 2)),
      ...(best ? [cellText(bestRatio(r, best), 2)] : []),
    ];
  });
  printTable(c.title, header, rows);
  if (best?.note) process.stdout.write(`${best.note}\n`);
}
