// A task's stdio as named pipes, the way containerd clients hand stdio to a
// shim: the client creates the FIFOs, passes their paths in Create/Exec, and
// keeps its ends open. Each end is opened O_RDWR|O_NONBLOCK first, so neither
// side's open blocks whoever comes second, and wrapped in a pipe handle so no
// libuv thread-pool thread ever blocks on it.

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { S_IF, mknod } from '../../native/index.js';

/** Where FIFOs go by default: beside the daemon's state when root, else the temp dir. */
export function defaultFifoRoot(): string {
  return process.getuid?.() === 0 ? '/run/berth/fifo' : path.join(os.tmpdir(), 'berth-fifo');
}

export interface FifoPaths {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export interface FifoSetOptions {
  /** Create a stdin FIFO (otherwise the process gets /dev/null). */
  stdin?: boolean;
  /** One stream for a terminal: stdout only. */
  terminal?: boolean;
  /** Parent directory for the set's own directory. */
  root?: string;
}

function openPipe(file: string, readable: boolean): { sock: net.Socket; fd: number } {
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  const sock = new net.Socket({ fd, readable, writable: !readable });
  return { sock, fd };
}

/**
 * The client's ends of a task's FIFOs. `stdout`/`stderr` end once the task's
 * side closes after `detach()`; `stdin` is written and then closed with
 * `closeStdin()` (followed by a CloseIO call so the shim closes its end).
 */
export class FifoSet {
  readonly paths: FifoPaths;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly stdin: Writable | undefined;
  /** Plain fds, never read: a handle that read would steal the output's bytes. */
  private readonly keepalive: number[] = [];
  private readonly readers: net.Socket[] = [];
  private closed = false;

  private constructor(
    /** The set's own directory, removed by close(); empty when attached to another's FIFOs. */
    readonly dir: string,
    paths: FifoPaths,
    make: boolean,
  ) {
    this.paths = paths;
    if (make) {
      for (const f of [paths.stdin, paths.stdout, paths.stderr]) {
        if (f) mknod(f, S_IF.FIFO | 0o600);
      }
    }
    this.stdout = paths.stdout ? this.reader(paths.stdout) : emptyReadable();
    this.stderr = paths.stderr ? this.reader(paths.stderr) : emptyReadable();
    this.stdin = paths.stdin ? openPipe(paths.stdin, false).sock : undefined;
  }

  static create(id: string, opts: FifoSetOptions = {}): FifoSet {
    const root = opts.root ?? defaultFifoRoot();
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    const dir = fs.mkdtempSync(path.join(root, `${id}-${randomBytes(3).toString('hex')}-`));
    const terminal = opts.terminal ?? false;
    const p = (name: string) => path.join(dir, name);
    try {
      return new FifoSet(
        dir,
        {
          stdin: opts.stdin ? p('stdin') : '',
          stdout: p('stdout'),
          stderr: terminal ? '' : p('stderr'),
          terminal,
        },
        true,
      );
    } catch (err) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Opens the FIFOs another client created (a task's recorded stdio); close() leaves them. */
  static attach(paths: FifoPaths): FifoSet {
    for (const f of [paths.stdin, paths.stdout, paths.stderr]) {
      if (f && !fs.statSync(f, { throwIfNoEntry: false })?.isFIFO()) {
        throw new Error(`${f} is not a FIFO any more: the task's stdio cannot be attached`);
      }
    }
    return new FifoSet('', paths, false);
  }

  /**
   * A read end that sees end-of-file once every writer is gone: an O_RDWR
   * handle keeps the pipe open until `detach()`, a second O_RDONLY handle
   * reads. Reading before the writer arrives would otherwise see EOF at once.
   */
  private reader(file: string): Readable {
    this.keepalive.push(fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_NONBLOCK));
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const sock = new net.Socket({ fd, readable: true, writable: false });
    sock.on('error', () => {});
    this.readers.push(sock);
    return sock;
  }

  /** Drop the keep-alive ends: the readers end when the task's side closes. */
  detach(): void {
    for (const fd of this.keepalive.splice(0)) fs.closeSync(fd);
  }

  /** End the stdin stream (the caller then asks the shim to close its end). */
  closeStdin(): Promise<void> {
    const w = this.stdin;
    if (!w || w.writableEnded) return Promise.resolve();
    return new Promise((resolve) => w.end(() => resolve()));
  }

  /**
   * Resolves once the output streams have ended: the shim closes its ends after
   * copying everything, so nothing the process wrote is lost however slowly we
   * are read. A stream still open but silent for `idleMs` (a leftover child
   * holding the pipe) does not hold this up; one paused by a slow consumer does.
   */
  drain(idleMs = 2_000): Promise<void> {
    this.detach();
    const open = this.readers.filter((r) => !r.readableEnded && !r.destroyed);
    if (open.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let left = open.length;
      const done = () => {
        clearTimeout(timer);
        for (const r of open) r.off('data', arm);
        resolve();
      };
      const idle = () => (open.some((r) => r.isPaused()) ? arm() : done());
      function arm() {
        clearTimeout(timer);
        timer = setTimeout(idle, idleMs);
      }
      for (const r of open) {
        r.on('data', arm);
        const ended = () => {
          if (--left === 0) done();
        };
        if (r.readableEnded) ended();
        else r.once('close', ended);
      }
      arm();
    });
  }

  /** Drains (see drain()), then closes everything and removes the FIFOs. */
  async close(idleMs = 2_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.drain(idleMs);
    for (const r of this.readers) r.destroy();
    (this.stdin as net.Socket | undefined)?.destroy();
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function emptyReadable(): Readable {
  const p = new PassThrough();
  p.end();
  return p;
}
