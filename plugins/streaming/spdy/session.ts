import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import {
  encodeData,
  encodeGoAway,
  encodePing,
  encodeRstStream,
  encodeSynReply,
  encodeWindowUpdate,
  FrameReader,
  GoAwayStatus,
  RstStatus,
  SpdyProtocolError,
  type SpdyFrame,
} from './frames.js';
import { HeaderCompressor, HeaderDecompressor, type HeaderMap } from './headers.js';

// Server side of one SPDY/3.1 connection. Clients (moby/spdystream in crictl and
// the kubelet) open every stream; we answer each SYN_STREAM with a SYN_REPLY at
// once. spdystream neither sends nor honours WINDOW_UPDATE, so we never wait for
// send window: back-pressure is TCP's (we pause reading the socket while a stream
// has unread data) and we hand out window to flow-controlled peers as data arrives.

/** Largest DATA frame we send. */
const MAX_DATA_FRAME = 64 * 1024;
/** Window the SPDY/3.1 spec starts each stream with. */
const DEFAULT_WINDOW = 64 * 1024;

export class SpdyStream extends Duplex {
  readonly id: number;
  readonly headers: HeaderMap;
  /** The peer sent FIN (or reset the stream). */
  remoteClosed = false;
  /** We sent FIN (or reset the stream). */
  localClosed = false;
  reset = false;
  private unacked = 0;

  constructor(
    private readonly session: SpdySession,
    id: number,
    headers: HeaderMap,
    private readonly replied: Promise<void>,
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024 });
    this.id = id;
    this.headers = headers;
    // Errors surface as 'close' with reset/remoteClosed; writes after a reset are dropped.
    this.on('error', () => undefined);
  }

  /** First value of a header, lowercase name. */
  header(name: string): string | undefined {
    return this.headers[name.toLowerCase()]?.[0];
  }

  /** @internal */
  receive(data: Buffer, fin: boolean): void {
    if (this.destroyed) return;
    if (data.length > 0) {
      this.unacked += data.length;
      if (this.unacked >= DEFAULT_WINDOW / 2) {
        this.session.sendFrame(encodeWindowUpdate(this.id, this.unacked));
        this.unacked = 0;
      }
      if (!this.push(data)) this.session.blockOn(this);
    }
    if (fin) this.remoteFinish();
  }

  /** @internal */
  remoteFinish(): void {
    if (this.remoteClosed) return;
    this.remoteClosed = true;
    this.push(null);
    this.session.maybeForget(this);
  }

  /** @internal peer sent RST_STREAM, or the connection went away. */
  abort(): void {
    if (this.reset) return;
    this.reset = true;
    this.remoteClosed = true;
    this.localClosed = true;
    this.session.unblock(this);
    this.destroy();
  }

  /** Sends RST_STREAM and drops the stream. */
  resetStream(status: number = RstStatus.Cancel): void {
    if (this.reset) return;
    this.session.sendFrame(encodeRstStream(this.id, status));
    this.abort();
    this.session.maybeForget(this);
  }

  override _read(): void {
    this.session.unblock(this);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.replied.then(() => {
      if (this.localClosed) return cb();
      let ok = true;
      for (let off = 0; off < chunk.length; off += MAX_DATA_FRAME) {
        ok = this.session.sendFrame(
          encodeData(this.id, chunk.subarray(off, off + MAX_DATA_FRAME), false),
        );
      }
      if (ok) cb();
      else this.session.whenWritable(() => cb());
    }, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.replied.then(() => {
      if (!this.localClosed) {
        this.localClosed = true;
        this.session.sendFrame(encodeData(this.id, Buffer.alloc(0), true));
        this.session.maybeForget(this);
      }
      cb();
    }, cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.session.unblock(this);
    cb(err);
  }
}

export interface SpdySessionOptions {
  /** Close the connection after this long without a frame either way (0: never). */
  idleTimeoutMs?: number;
}

/**
 * Events: 'stream' (SpdyStream) for each stream the peer opens, 'close' once the
 * connection is gone, 'protocolError' (Error) before it is torn down for one.
 */
export class SpdySession extends EventEmitter {
  private readonly reader = new FrameReader();
  private readonly compressor = new HeaderCompressor();
  private readonly decompressor = new HeaderDecompressor();
  private readonly streams = new Map<number, SpdyStream>();
  private readonly blocked = new Set<SpdyStream>();
  private readonly queue: SpdyFrame[] = [];
  private draining = false;
  private lastStreamId = 0;
  private goingAway = false;
  private closed = false;
  private writeWaiters: (() => void)[] = [];
  /** Serialises header-carrying frames we send so the peer inflates them in order. */
  private outbound: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly socket: Duplex,
    opts: SpdySessionOptions = {},
  ) {
    super();
    socket.on('data', (chunk: Buffer) => this.feed(chunk));
    socket.on('drain', () => this.flushWaiters());
    socket.on('end', () => this.destroy());
    socket.on('close', () => this.destroy());
    socket.on('error', () => this.destroy());
    const s = socket as Duplex & { setTimeout?: (ms: number, cb?: () => void) => void };
    if (opts.idleTimeoutMs && typeof s.setTimeout === 'function') {
      s.setTimeout(opts.idleTimeoutMs, () => this.destroy());
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Writes a frame straight to the socket; false when the socket's buffer is full. */
  sendFrame(frame: Buffer): boolean {
    if (this.closed || this.socket.destroyed || this.socket.writableEnded) return true;
    return this.socket.write(frame);
  }

  /** Calls fn once the socket can take more (at once if the connection is gone). */
  whenWritable(fn: () => void): void {
    if (this.closed) return fn();
    this.writeWaiters.push(fn);
  }

  /** Sends GOAWAY and ends the connection once queued frames are written. */
  close(): void {
    if (this.closed) return;
    this.goingAway = true;
    // Queue behind any SYN_REPLY still being compressed so it is not cut off.
    void this.outbound.then(() => {
      this.sendFrame(encodeGoAway(this.lastStreamId, GoAwayStatus.Ok));
      if (!this.socket.destroyed) this.socket.end();
      // A peer that never closes its side must not keep the socket forever.
      setTimeout(() => this.destroy(), 5_000).unref();
    });
  }

  /** Tears the connection down at once; open streams are aborted. */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) s.abort();
    this.streams.clear();
    this.blocked.clear();
    this.queue.length = 0;
    this.flushWaiters();
    this.compressor.close();
    this.decompressor.close();
    if (!this.socket.destroyed) this.socket.destroy();
    this.emit('close');
  }

  /** @internal a stream's reader is behind: stop reading the socket. */
  blockOn(s: SpdyStream): void {
    this.blocked.add(s);
    this.socket.pause();
  }

  /** @internal */
  unblock(s: SpdyStream): void {
    if (this.blocked.delete(s) && this.blocked.size === 0 && !this.closed) this.socket.resume();
  }

  /** @internal drop a stream once both directions are closed. */
  maybeForget(s: SpdyStream): void {
    if (s.remoteClosed && s.localClosed) this.streams.delete(s.id);
  }

  private flushWaiters(): void {
    const w = this.writeWaiters;
    this.writeWaiters = [];
    for (const fn of w) fn();
  }

  /** Bytes read from the connection; also used for what arrived with the HTTP upgrade. */
  feed(chunk: Buffer): void {
    if (this.closed) return;
    let frames: SpdyFrame[];
    try {
      frames = this.reader.push(chunk);
    } catch (err) {
      return this.protocolError(err as Error);
    }
    if (frames.length === 0) return;
    this.queue.push(...frames);
    if (!this.draining) void this.drain();
  }

  // Frames are handled strictly in order; only header blocks need an await (zlib).
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const pending = this.handle(this.queue.shift()!);
        if (pending) await pending;
      }
    } catch (err) {
      this.protocolError(err as Error);
    } finally {
      this.draining = false;
    }
  }

  private protocolError(err: Error): void {
    if (this.closed) return;
    this.emit('protocolError', err);
    this.sendFrame(encodeGoAway(this.lastStreamId, GoAwayStatus.ProtocolError));
    this.socket.end();
    this.destroy();
  }

  private handle(f: SpdyFrame): Promise<void> | undefined {
    switch (f.type) {
      case 'data': {
        const s = this.streams.get(f.streamId);
        if (!s) {
          this.sendFrame(encodeRstStream(f.streamId, RstStatus.InvalidStream));
        } else if (s.remoteClosed) {
          s.resetStream(RstStatus.StreamAlreadyClosed);
        } else {
          s.receive(f.data, f.fin);
        }
        return undefined;
      }
      case 'syn_stream':
        return this.onSynStream(f);
      case 'syn_reply':
      case 'headers':
        // Still inflated: skipping a block would desynchronise the zlib context.
        return this.decompressor.decompress(f.headerBlock).then(() => {
          if (f.fin) this.streams.get(f.streamId)?.remoteFinish();
        });
      case 'rst_stream': {
        const s = this.streams.get(f.streamId);
        if (s) {
          this.streams.delete(s.id);
          s.abort();
        }
        return undefined;
      }
      case 'ping':
        // Odd ids come from the client and are echoed; even ids would be our own.
        if (f.id % 2 === 1) this.sendFrame(encodePing(f.id));
        return undefined;
      case 'goaway':
        this.goingAway = true;
        return undefined;
      case 'settings':
      case 'window_update':
      case 'unknown':
        return undefined;
    }
  }

  private async onSynStream(f: Extract<SpdyFrame, { type: 'syn_stream' }>): Promise<void> {
    const headers = await this.decompressor.decompress(f.headerBlock);
    if (this.closed) return;
    const id = f.streamId;
    if (id === 0 || id % 2 === 0 || id <= this.lastStreamId) {
      if (this.streams.has(id)) {
        this.sendFrame(encodeRstStream(id, RstStatus.StreamInUse));
      } else {
        throw new SpdyProtocolError(`invalid stream id ${id} after ${this.lastStreamId}`);
      }
      return;
    }
    this.lastStreamId = id;
    if (this.goingAway) {
      this.sendFrame(encodeRstStream(id, RstStatus.RefusedStream));
      return;
    }
    const replied = this.reply(id);
    const stream = new SpdyStream(this, id, headers, replied);
    this.streams.set(id, stream);
    if (f.unidirectional) {
      stream.localClosed = true;
    }
    if (f.fin) stream.remoteFinish();
    this.emit('stream', stream);
  }

  private reply(id: number): Promise<void> {
    const done = this.outbound.then(async () => {
      const block = await this.compressor.compress({});
      this.sendFrame(encodeSynReply(id, block));
    });
    this.outbound = done.catch(() => undefined);
    return done;
  }
}
