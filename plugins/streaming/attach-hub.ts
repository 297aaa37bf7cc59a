import type { Writable } from 'node:stream';
import type { CommandStreams, TerminalSize } from './types.js';

// Several clients attached to one container process. The owner of the process's
// stdio (the CRI plugin, which also writes the container log) publishes output
// here; each attached client gets a copy, and client input is merged into the
// process's stdin. With stdinOnce (ContainerConfig.stdin_once) the process's stdin
// is closed when the first client that sent input closes its stdin, and later
// clients get no stdin.

/** Output queued for one slow client before it is detached, so it cannot stall the rest. */
const MAX_CLIENT_BACKLOG = 8 * 1024 * 1024;

export interface AttachHubOptions {
  /** The process's stdin; absent when the container was created without stdin. */
  stdin?: Writable;
  stdinOnce: boolean;
  tty: boolean;
  /** Applies a terminal size from any client (tty only). */
  onResize?: (size: TerminalSize) => void;
}

interface Client {
  stdout?: Writable;
  stderr?: Writable;
  detach: () => void;
}

export class AttachHub {
  private readonly clients = new Set<Client>();
  private stdinClosed: boolean;
  private ended = false;

  constructor(private readonly opts: AttachHubOptions) {
    this.stdinClosed = !opts.stdin;
  }

  get attached(): number {
    return this.clients.size;
  }

  /** Output from the process. With a TTY everything is 'stdout'. */
  publish(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    for (const c of this.clients) {
      const w = stream === 'stderr' && !this.opts.tty ? c.stderr : c.stdout;
      if (!w || w.destroyed || w.writableEnded) continue;
      w.write(chunk);
      if (w.writableLength > MAX_CLIENT_BACKLOG) c.detach();
    }
  }

  /** The process exited: every attach session finishes. */
  end(): void {
    this.ended = true;
    for (const c of [...this.clients]) c.detach();
    this.closeStdin();
  }

  /** Serves one client until the process ends or the client goes away. */
  attach(streams: CommandStreams): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const client: Client = { stdout: streams.stdout, stderr: streams.stderr, detach: () => {} };
      const stdin = streams.stdin;
      const target = this.opts.stdin;
      const onData = (chunk: Buffer) => {
        if (this.stdinClosed || !target) return;
        if (!target.write(chunk)) {
          stdin?.pause();
          target.once('drain', () => stdin?.resume());
        }
      };
      const onEnd = () => {
        if (this.opts.stdinOnce) this.closeStdin();
      };
      if (stdin) {
        stdin.on('data', onData);
        stdin.on('end', onEnd);
      }
      void (async () => {
        if (!this.opts.tty || !this.opts.onResize) return;
        for await (const size of streams.resize) this.opts.onResize(size);
      })();
      client.detach = () => {
        if (!this.clients.delete(client)) return;
        streams.signal.removeEventListener('abort', client.detach);
        stdin?.off('data', onData);
        stdin?.off('end', onEnd);
        stdin?.resume(); // keep draining so the transport is not held up
        resolve();
      };
      this.clients.add(client);
      if (streams.signal.aborted) client.detach();
      else streams.signal.addEventListener('abort', client.detach);
    });
  }

  private closeStdin(): void {
    if (this.stdinClosed) return;
    this.stdinClosed = true;
    this.opts.stdin?.end();
  }
}
