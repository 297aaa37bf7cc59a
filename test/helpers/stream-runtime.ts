import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { errNotFound } from '../../core/errors/catalogue.js';
import { AttachHub } from '../../plugins/streaming/attach-hub.js';
import type {
  CommandStreams,
  StreamingRuntime,
  TerminalSize,
} from '../../plugins/streaming/types.js';

// A StreamingRuntime over local processes and loopback TCP, standing in for the
// CRI plugin: "containers" are host processes, a "sandbox" is 127.0.0.1.

export class LocalRuntime implements StreamingRuntime {
  readonly pids = new Set<number>();
  readonly resizes: TerminalSize[] = [];
  readonly containers = new Map<
    string,
    { proc: ChildProcess; hub: AttachHub; exited: Promise<void> }
  >();
  openForwards = 0;

  async exec(_id: string, cmd: string[], streams: CommandStreams): Promise<{ exitCode: number }> {
    const proc = spawn(cmd[0]!, cmd.slice(1), { detached: true, stdio: 'pipe' });
    this.track(proc);
    proc.stdin.on('error', () => undefined);
    if (streams.stdin) streams.stdin.pipe(proc.stdin);
    else proc.stdin.end();
    if (streams.stdout) proc.stdout.pipe(streams.stdout);
    else proc.stdout.resume();
    // A terminal merges stderr into stdout.
    const errTarget = streams.tty ? streams.stdout : streams.stderr;
    if (errTarget) proc.stderr.pipe(errTarget, { end: !streams.tty });
    else proc.stderr.resume();
    void (async () => {
      for await (const s of streams.resize) this.resizes.push(s);
    })();
    const onAbort = () => killGroup(proc);
    streams.signal.addEventListener('abort', onAbort);
    return new Promise((resolve, reject) => {
      proc.once('error', reject);
      proc.once('exit', (code, signal) => {
        streams.signal.removeEventListener('abort', onAbort);
        resolve({ exitCode: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15) });
      });
    });
  }

  /** Starts a long-running "container" whose stdio is shared by attach clients. */
  startContainer(id: string, cmd: string[], opts: { stdinOnce: boolean; tty?: boolean }): void {
    const proc = spawn(cmd[0]!, cmd.slice(1), { detached: true, stdio: 'pipe' });
    this.track(proc);
    proc.stdin.on('error', () => undefined);
    const hub = new AttachHub({
      stdin: proc.stdin,
      stdinOnce: opts.stdinOnce,
      tty: opts.tty ?? false,
      onResize: (s) => this.resizes.push(s),
    });
    proc.stdout.on('data', (c: Buffer) => hub.publish('stdout', c));
    proc.stderr.on('data', (c: Buffer) => hub.publish('stderr', c));
    const exited = new Promise<void>((resolve) =>
      proc.once('close', () => {
        hub.end();
        resolve();
      }),
    );
    this.containers.set(id, { proc, hub, exited });
  }

  async attach(id: string, streams: CommandStreams): Promise<void> {
    const c = this.containers.get(id);
    if (!c) throw errNotFound(`container "${id}"`);
    await c.hub.attach(streams);
  }

  portForward(_sandbox: string, port: number, stream: Duplex): Promise<void> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      this.openForwards++;
      let connected = false;
      sock.once('connect', () => {
        connected = true;
        stream.pipe(sock);
        sock.pipe(stream);
      });
      stream.once('close', () => sock.destroy());
      sock.once('error', (err) => {
        if (!connected) reject(err);
      });
      sock.once('close', () => {
        this.openForwards--;
        if (connected) resolve();
      });
    });
  }

  /** Live (non-zombie) processes in the process groups this runtime started. */
  alive(): number[] {
    const out: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue;
      }
      // pid (comm) state ppid pgrp ...; comm may contain spaces or parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && this.pids.has(Number(fields[2]))) out.push(Number(entry));
    }
    return out;
  }

  killAll(): void {
    for (const pid of this.pids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  private track(proc: ChildProcess): void {
    if (proc.pid) this.pids.add(proc.pid);
  }
}

function killGroup(proc: ChildProcess): void {
  try {
    if (proc.pid) process.kill(-proc.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
