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
}

export interface Comparison {
  title: string;
  /** Column labels of the measured subjects, e.g. ["Berth", "containerd"]. */
  subjects: string[];
  /** Ratio columns as [numerator, denominator] indexes into `subjects`. */
  ratios: [number, number][];
  rows: ComparisonRow[];
}

export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || b === 0) return undefined;
  return a / b;
}

/** Subjects side by side, then one "a/b" column per requested ratio (two decimals). */
export function printComparison(c: Comparison): void {
  const header = [
    'metric',
    ...c.subjects,
    ...c.ratios.map(([a, b]) => `${c.subjects[a]}/${c.subjects[b]}`),
  ];
  const rows = c.rows.map((r) => {
    const digits = r.digits ?? 1;
    return [
      r.metric,
      ...r.values.map((v) => cellText(v, digits)),
      ...c.ratios.map(([a, b]) => cellText(ratio(r.values[a], r.values[b]), 2)),
    ];
  });
  printTable(c.title, header, rows);
}
