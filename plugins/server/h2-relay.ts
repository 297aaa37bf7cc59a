// One accepted gRPC connection, relayed to grpc-js's HTTP/2 server over a
// private native socket pair: client bytes go through ClientFrames (preface
// check, :authority fix), server bytes go back unchanged while ServerFrames
// watches for GOAWAY. The three sockets close together, whichever side is done
// first, so no fd outlives its connection even when Node's http2 session
// stalls after a protocol error.

import type net from 'node:net';
import { errorName } from './h2-frames.js';
import { ClientFrames } from './h2-inbound.js';
import { ServerFrames } from './h2-outbound.js';

export interface RelayHooks {
  /** A connected native socket pair: `ours` to write to, `theirs` for the HTTP/2 server. */
  pair(): Promise<{ ours: net.Socket; theirs: net.Socket }>;
  /** Hands the server's end to the HTTP/2 server. */
  inject(theirs: net.Socket): void;
  /** The connection is closed for a reason an operator may want to see. */
  refused(reason: string, detail: Record<string, unknown>): void;
  /** Something worth a debug line (rewrites, pass-through). */
  note(msg: string, detail: Record<string, unknown>): void;
}

/** How long a closing client socket may take to flush its last bytes (a GOAWAY). */
const FLUSH_GRACE_MS = 2000;

export class H2Relay {
  private readonly inbound = new ClientFrames();
  private readonly outbound = new ServerFrames();
  private readonly prefaceTimer: NodeJS.Timeout;
  /** Client bytes that arrived before the pair was ready. */
  private pending: Buffer[] = [];
  private pairing = false;
  private ours: net.Socket | undefined;
  private theirs: net.Socket | undefined;
  private noted = { rewrite: false, passthrough: false };
  private ended!: () => void;
  closed = false;
  /** Resolves once every socket of the connection is closed or closing. */
  readonly done = new Promise<void>((r) => (this.ended = r));

  constructor(
    private readonly client: net.Socket,
    private readonly hooks: RelayHooks,
    prefaceTimeoutMs: number,
  ) {
    this.prefaceTimer = setTimeout(
      () => this.refuse('no HTTP/2 client preface in time', { timeoutMs: prefaceTimeoutMs }),
      prefaceTimeoutMs,
    );
    this.prefaceTimer.unref();
    client.on('data', (chunk: Buffer) => this.fromClient(chunk));
    client.on('drain', () => this.ours?.resume());
    // Resets and broken pipes are the peer's business; the connection is over either way.
    client.on('error', () => this.close());
    client.on('close', () => this.close());
  }

  private fromClient(chunk: Buffer): void {
    const out = this.inbound.push(chunk);
    if (out === null) {
      return this.refuse('not an HTTP/2 client preface', {
        start: chunk.subarray(0, 16).toString('latin1'),
      });
    }
    this.noteChanges();
    if (this.ours) {
      if (out.length > 0 && !this.ours.write(out)) this.client.pause();
      return;
    }
    if (out.length > 0) this.pending.push(out);
    if (this.inbound.prefaceComplete && !this.pairing) {
      this.pairing = true;
      clearTimeout(this.prefaceTimer);
      this.client.pause();
      this.hooks.pair().then(
        (p) => this.attach(p.ours, p.theirs),
        (err: Error) => this.refuse('no socket pair for the HTTP/2 server', { err: err.message }),
      );
    }
  }

  private attach(ours: net.Socket, theirs: net.Socket): void {
    if (this.closed) {
      ours.destroy();
      theirs.destroy();
      return;
    }
    this.ours = ours;
    this.theirs = theirs;
    ours.on('data', (chunk: Buffer) => this.fromServer(chunk));
    ours.on('drain', () => this.client.resume());
    for (const s of [ours, theirs]) {
      s.on('error', () => this.close());
      s.on('close', () => this.close());
    }
    ours.write(Buffer.concat(this.pending));
    this.pending = [];
    this.hooks.inject(theirs);
    this.client.resume();
  }

  private fromServer(chunk: Buffer): void {
    let failed = false;
    for (const g of this.outbound.push(chunk)) {
      if (g.errorCode === 0) continue; // a graceful close: the server ends the session itself
      failed = true;
      this.hooks.refused('HTTP/2 connection error', {
        code: errorName(g.errorCode),
        lastStreamId: g.lastStreamId,
        debug: g.debug || undefined,
      });
    }
    if (!this.client.write(chunk)) this.ours!.pause();
    if (failed) this.close();
  }

  private noteChanges(): void {
    if (this.inbound.rewritten > 0 && !this.noted.rewrite) {
      this.noted.rewrite = true;
      this.hooks.note('rewrote a request :authority nghttp2 would reject', {});
    }
    if (this.inbound.passthrough && !this.noted.passthrough) {
      this.noted.passthrough = true;
      this.hooks.note('header blocks passed through unchecked', {
        reason: this.inbound.passthrough,
      });
    }
  }

  private refuse(reason: string, detail: Record<string, unknown>): void {
    if (this.closed) return;
    this.hooks.refused(reason, detail);
    this.close();
  }

  /** Closes all three sockets; the client's gets a moment to flush what it was sent last. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.prefaceTimer);
    this.ours?.destroy();
    this.theirs?.destroy();
    const c = this.client;
    if (!c.destroyed && c.writableLength > 0) {
      c.end();
      setTimeout(() => c.destroy(), FLUSH_GRACE_MS).unref();
    } else {
      c.destroy();
    }
    this.ended();
  }
}
