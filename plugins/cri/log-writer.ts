// Container logs in the CRI format the kubelet reads:
//   <RFC3339Nano timestamp> <stdout|stderr> <P|F> <content>\n
// A line longer than the maximum is written as partial (P) records followed by
// a full (F) one; a last line without a newline at end-of-stream is P.

import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';

/** RFC3339Nano as Go prints it: nanoseconds with trailing zeros dropped, `Z` zone. */
export function rfc3339Nano(ms: number, nanosWithinMs: number): string {
  const iso = new Date(ms).toISOString(); // 2006-01-02T15:04:05.000Z
  const base = iso.slice(0, 19);
  const frac = (
    String(ms % 1000).padStart(3, '0') + String(nanosWithinMs).padStart(6, '0')
  ).replace(/0+$/, '');
  return `${base}${frac ? `.${frac}` : ''}Z`;
}

// Wall clock at load plus the monotonic clock since: nanosecond resolution, and
// records never go back in time within a file (the kubelet orders by them).
const wallOffsetNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

function now(): string {
  const ns = wallOffsetNs + process.hrtime.bigint();
  return rfc3339Nano(Number(ns / 1_000_000n), Number(ns % 1_000_000n));
}

export type StreamName = 'stdout' | 'stderr';

/** Splits a byte stream into CRI records; `emit` receives (tag, content) with no newline. */
export class LineSplitter {
  private buf: Buffer = Buffer.alloc(0);

  constructor(
    private readonly maxLine: number,
    private readonly emit: (tag: 'P' | 'F', content: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl >= 0 && nl <= this.maxLine) {
        let line = this.buf.subarray(0, nl);
        if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, -1);
        this.emit('F', line);
        this.buf = this.buf.subarray(nl + 1);
        continue;
      }
      // Only more than maxLine bytes without a newline make a partial record, so a
      // line of exactly maxLine bytes is one F record however its bytes arrive.
      if (this.buf.length > this.maxLine) {
        this.emit('P', this.buf.subarray(0, this.maxLine));
        this.buf = this.buf.subarray(this.maxLine);
        continue;
      }
      break;
    }
  }

  end(): void {
    if (this.buf.length > 0) this.emit('P', this.buf);
    this.buf = Buffer.alloc(0);
  }
}

/** Writes a container's streams into its log file; reopen() follows the kubelet's rotation. */
export class CriLogWriter {
  private fd: number | undefined;
  private open = 0;
  private resolveDone!: () => void;
  /** Resolves once every attached stream has ended. */
  readonly done: Promise<void>;

  constructor(
    readonly file: string,
    private readonly maxLine: number,
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
    this.reopen();
  }

  reopen(): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const fd = fs.openSync(this.file, 'a', 0o640);
    const old = this.fd;
    this.fd = fd;
    if (old !== undefined) fs.closeSync(old);
  }

  attach(stream: Readable, name: StreamName): void {
    this.open++;
    const split = new LineSplitter(this.maxLine, (tag, content) => this.write(name, tag, content));
    stream.on('data', (b: Buffer) => split.push(b));
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      split.end();
      if (--this.open === 0) this.resolveDone();
    };
    stream.once('end', finish);
    stream.once('close', finish);
    stream.once('error', finish);
  }

  private write(name: StreamName, tag: 'P' | 'F', content: Buffer): void {
    if (this.fd === undefined) return;
    const head = Buffer.from(`${now()} ${name} ${tag} `);
    try {
      fs.writeSync(this.fd, Buffer.concat([head, content, Buffer.from('\n')]));
    } catch {
      // A full disk or a removed directory must not take the daemon down; the line is lost.
    }
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
