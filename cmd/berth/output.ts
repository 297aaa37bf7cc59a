import { UsageError } from './exit-codes.js';

/** Column-aligned table like ctr's tabwriter output (two spaces minimum padding). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 4)))
      .join('')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function labelsString(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : '-';
}

/** Parses `key=value` arguments; `key=` (or bare `key`) removes the label. */
export function parseLabelArgs(args: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of args) {
    const i = a.indexOf('=');
    if (i === 0) throw new UsageError(`invalid label ${JSON.stringify(a)}: empty key`);
    if (i < 0) out[a] = '';
    else out[a.slice(0, i)] = a.slice(i + 1);
  }
  return out;
}

export function printJSON(v: unknown): void {
  process.stdout.write(JSON.stringify(v, bigintAsString, 2) + '\n');
}

/** JSON.stringify replacer: 64-bit counters print as decimal strings. */
export function bigintAsString(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

/** Binary sizes ("1.5 MiB"), as memory is counted. */
export function binarySize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Decimal sizes with four significant digits, as ctr prints them ("1.234 MB"). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(4))} ${units[i]}`;
}
