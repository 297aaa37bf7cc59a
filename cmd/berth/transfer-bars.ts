// Progress of a pull or push on stderr: one bar per object, redrawn in place
// on a terminal; elsewhere one line per object when it finishes, so logs stay
// readable.

import type { TransferProgress } from '../../client/transfer-progress.js';
import { isConfigType, isIndexType, isManifestType } from '../../core/images/oci/media-types.js';
import { humanSize } from './output.js';

const BAR_WIDTH = 30;
const REDRAW_MS = 100;
const FINAL: ReadonlySet<string> = new Set(['done', 'exists', 'resolved', 'unpacked']);

function label(p: TransferProgress): string {
  if (!/^sha(256|512):[0-9a-f]+$/.test(p.ref) || !p.mediaType) return p.ref;
  const kind = isIndexType(p.mediaType)
    ? 'index'
    : isManifestType(p.mediaType)
      ? 'manifest'
      : isConfigType(p.mediaType)
        ? 'config'
        : 'layer';
  const [alg, hex] = p.ref.split(':');
  return `${kind}-${alg}:${hex?.slice(0, 12)}`;
}

function bar(p: TransferProgress): string {
  if (p.total <= 0) return ''.padEnd(BAR_WIDTH + 2);
  const frac = Math.min(1, p.offset / p.total);
  const full = Math.round(frac * BAR_WIDTH);
  const head = full < BAR_WIDTH && full > 0 ? '>' : '';
  return `[${'='.repeat(Math.max(0, full - head.length))}${head}${' '.repeat(BAR_WIDTH - full)}]`;
}

export class TransferBars {
  private readonly rows = new Map<string, TransferProgress>();
  private drawn = 0;
  private timer?: NodeJS.Timeout;
  private readonly started = Date.now();

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly live: boolean = Boolean(process.stderr.isTTY),
  ) {
    if (this.live) this.timer = setInterval(() => this.draw(), REDRAW_MS);
  }

  readonly handler = (p: TransferProgress): void => {
    const before = this.rows.get(p.ref);
    this.rows.set(p.ref, p);
    if (!this.live && FINAL.has(p.status) && before?.status !== p.status) {
      this.out.write(`${label(p)}: ${p.status}${p.total ? ` (${humanSize(p.total)})` : ''}\n`);
    }
  };

  private draw(): void {
    const rows = [...this.rows.values()];
    const width = Math.max(0, ...rows.map((r) => label(r).length));
    const lines = rows.map((r) => {
      const size = r.total > 0 ? `${humanSize(r.offset)}/${humanSize(r.total)}` : '';
      return `${label(r).padEnd(width)}  ${r.status.padEnd(11)} ${bar(r)} ${size}`;
    });
    const secs = ((Date.now() - this.started) / 1000).toFixed(1);
    lines.push(`elapsed: ${secs}s`);
    let s = this.drawn > 0 ? `\x1b[${this.drawn}F` : '';
    for (const l of lines) s += `\x1b[2K${l}\n`;
    this.out.write(s);
    this.drawn = lines.length;
  }

  /** Draws the final state and stops redrawing. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.live) this.draw();
  }
}
