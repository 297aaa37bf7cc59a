// A process's stdio: the client's FIFOs on one side, the container's pipes (or
// its pty master) on the other, copied by the event loop.
//
// Without a terminal runc gets [stdin pipe read end, stdout pipe write end,
// stderr pipe write end] and passes them to the container; we keep the other
// ends. With a terminal runc sends the pty master over --console-socket and
// stdin/stdout are copied to and from it (stderr is merged by the pty).

import fs from 'node:fs';
import type net from 'node:net';
import tty from 'node:tty';
import type { Readable, Writable } from 'node:stream';
import { isFifo, makePipe, openFifo, pipeReader, pipeWriter } from './pipe.js';

export interface StdioPaths {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

type ChildFd = number | 'ignore';

/** Opens the client's end of one stream: a FIFO (the usual case) or a plain file. */
function openOutput(p: string): Writable {
  if (isFifo(p)) return pipeWriter(openFifo(p));
  return fs.createWriteStream(p, { flags: 'a' });
}

/** How long a closed stdin may stay quiet while the client still holds its end. */
const STDIN_QUIET_MS = 200;

export class ProcessIO {
  /** Container-side fds handed to runc; closed in our process once runc has them. */
  private childFds: ChildFd[] = ['ignore', 'ignore', 'ignore'];
  private readonly owned = new Set<number>();
  private stdinSource: Readable | undefined;
  private stdinSink: Writable | undefined;
  private stdinKeepalive: number | undefined;
  private console: tty.ReadStream | undefined;
  private consoleMasterFd: number | undefined;
  private readonly outputs: Promise<void>[] = [];
  private readonly streams = new Set<Readable | Writable>();
  private closed = false;

  private constructor(
    readonly paths: StdioPaths,
    private readonly pipeDir: string,
  ) {}

  /** Prepares pipes for a process; pipeDir must be a directory only the shim writes to. */
  static create(paths: StdioPaths, pipeDir: string): ProcessIO {
    const io = new ProcessIO(paths, pipeDir);
    try {
      if (!paths.terminal) io.setupPipes();
      else if (paths.stdin) io.openStdinFifo();
    } catch (err) {
      io.close();
      throw err;
    }
    return io;
  }

  /** stdio for the runc command that starts the process. */
  get runcStdio(): ChildFd[] {
    return this.childFds;
  }

  private track<T extends Readable | Writable>(s: T): T {
    this.streams.add(s);
    s.on('error', () => {});
    return s;
  }

  private devNull(flags: number): number {
    const fd = fs.openSync('/dev/null', flags);
    this.owned.add(fd);
    return fd;
  }

  /**
   * Our read end of the client's stdin FIFO, plus a write end of our own that
   * keeps the reader from seeing end-of-file before the client opens its side
   * (or between its writers). CloseIO closes only that write end: the reader
   * then drains what is queued and ends once the client's writers are gone,
   * so no input is lost.
   */
  private openStdinFifo(): void {
    const readFd = fs.openSync(this.paths.stdin, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      this.stdinKeepalive = fs.openSync(
        this.paths.stdin,
        fs.constants.O_WRONLY | fs.constants.O_NONBLOCK,
      );
    } catch (err) {
      fs.closeSync(readFd);
      throw err;
    }
    this.stdinSource = this.track(pipeReader(readFd));
  }

  private setupPipes(): void {
    const { stdin, stdout, stderr } = this.paths;
    if (stdin) {
      const p = makePipe(this.pipeDir);
      this.owned.add(p.readFd);
      this.childFds[0] = p.readFd;
      this.stdinSink = this.track(pipeWriter(p.writeFd));
      this.openStdinFifo();
      this.stdinSource!.pipe(this.stdinSink);
    } else {
      this.childFds[0] = this.devNull(fs.constants.O_RDONLY);
    }
    for (const [i, target] of [
      [1, stdout],
      [2, stderr],
    ] as const) {
      if (!target) {
        this.childFds[i] = this.devNull(fs.constants.O_WRONLY);
        continue;
      }
      const p = makePipe(this.pipeDir);
      this.owned.add(p.writeFd);
      this.childFds[i] = p.writeFd;
      const source = this.track(pipeReader(p.readFd));
      const sink = this.track(openOutput(target));
      this.outputs.push(copyUntilEnd(source, sink));
    }
  }

  /** Drops our copies of the container-side fds once runc has been spawned with them. */
  closeChildSide(): void {
    for (const fd of this.owned) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already closed */
      }
    }
    this.owned.clear();
    this.childFds = ['ignore', 'ignore', 'ignore'];
  }

  /** Terminal mode: starts copying between the client's FIFOs and the pty master. */
  attachConsole(masterFd: number): void {
    const master = new tty.ReadStream(masterFd);
    this.console = master;
    this.consoleMasterFd = masterFd;
    this.track(master);
    if (this.stdinSource) this.stdinSource.pipe(master as unknown as Writable, { end: false });
    if (this.paths.stdout) {
      const sink = this.track(openOutput(this.paths.stdout));
      this.outputs.push(copyUntilEnd(master, sink));
    } else {
      master.resume();
    }
  }

  /** The pty master's fd, for window size changes; undefined without a terminal. */
  get consoleFd(): number | undefined {
    return this.console && !this.console.destroyed ? this.consoleMasterFd : undefined;
  }

  /**
   * CloseIO: the process sees end of input once what the client wrote has been
   * delivered. Closing our keep-alive write end lets the reader reach end of
   * file when the client's writers are gone (containerd's clients close theirs
   * first). A client that keeps its end open gets the same result once the
   * pipe has been empty, with nothing held back by a slow reader, for a moment.
   */
  closeStdin(): void {
    if (this.stdinKeepalive === undefined) return;
    fs.closeSync(this.stdinKeepalive);
    this.stdinKeepalive = undefined;
    const source = this.stdinSource;
    if (!source) return;
    let timer: NodeJS.Timeout | undefined;
    const cutOff = () => {
      const sink = this.stdinSink;
      if (source.isPaused() || sink?.writableNeedDrain) return arm(); // still delivering
      source.unpipe();
      source.destroy();
      sink?.end();
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(cutOff, STDIN_QUIET_MS);
    };
    source.on('data', arm);
    source.once('close', () => clearTimeout(timer));
    arm();
  }

  /**
   * Resolves once every output stream has reached end of file and been flushed
   * to the client, or after timeoutMs (a leftover grandchild may hold a pipe).
   */
  async drained(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.outputs),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  /** Tears everything down; output not yet copied is dropped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeChildSide();
    this.closeStdin();
    for (const s of this.streams) s.destroy();
    this.streams.clear();
  }
}

/** Copies source into sink and ends the sink at end of file (EIO from a pty master counts as that). */
function copyUntilEnd(source: Readable | net.Socket, sink: Writable): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      resolve();
    };
    source.pipe(sink);
    // A pty master reads EIO once the last slave fd closes: that is its end of file.
    source.on('error', () => {
      source.unpipe(sink);
      sink.end();
    });
    sink.on('finish', finish);
    sink.on('close', finish);
    sink.on('error', finish);
  });
}
