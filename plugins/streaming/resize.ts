import type { Readable } from 'node:stream';
import { AsyncQueue } from './async-queue.js';
import type { TerminalSize } from './types.js';

// Terminal sizes arrive as JSON objects {"Width":w,"Height":h}: newline-separated
// on the SPDY resize stream (client-go encodes each with a trailing newline), one
// per message on WebSocket channel 4. We split on object boundaries so either works.

const MAX_PENDING = 64 * 1024;

export class ResizeParser {
  private pending = '';

  constructor(private readonly onSize: (size: TerminalSize) => void) {}

  feed(chunk: Buffer | string): void {
    this.pending += chunk.toString();
    let depth = 0;
    let inString = false;
    let start = -1;
    let consumed = 0;
    for (let i = 0; i < this.pending.length; i++) {
      const c = this.pending[i];
      if (inString) {
        if (c === '\\') i++;
        else if (c === '"') inString = false;
      } else if (c === '"') {
        inString = true;
      } else if (c === '{') {
        if (depth++ === 0) start = i;
      } else if (c === '}' && depth > 0) {
        if (--depth === 0) {
          this.emitObject(this.pending.slice(start, i + 1));
          consumed = i + 1;
        }
      } else if (depth === 0) {
        consumed = i + 1; // whitespace or junk between objects
      }
    }
    this.pending = this.pending.slice(consumed);
    if (this.pending.length > MAX_PENDING) this.pending = '';
  }

  private emitObject(text: string): void {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof v !== 'object' || v === null) return;
    const o = v as Record<string, unknown>;
    const width = o.Width ?? o.width;
    const height = o.Height ?? o.height;
    if (!isDimension(width) || !isDimension(height)) return;
    this.onSize({ width, height });
  }
}

function isDimension(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffff;
}

/** Reads sizes from a byte stream into a queue that ends with the stream. */
export function resizeQueueFrom(source: Readable | undefined): AsyncQueue<TerminalSize> {
  const queue = new AsyncQueue<TerminalSize>();
  if (!source) return queue;
  const parser = new ResizeParser((s) => queue.push(s));
  source.on('data', (c: Buffer) => parser.feed(c));
  source.on('end', () => queue.end());
  source.on('close', () => queue.end());
  return queue;
}
