import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { encodeWsFrame, Opcode, WebSocketProtocolError, WsFrameReader } from './frames.js';

const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** Largest message we assemble from fragments. */
const MAX_MESSAGE = 32 * 1024 * 1024;

export function webSocketAccept(key: string): string {
  return createHash('sha1')
    .update(key + ACCEPT_GUID)
    .digest('base64');
}

/** Checks the RFC 6455 opening handshake; returns why it is invalid, if it is. */
export function invalidWebSocketRequest(req: IncomingMessage): string | undefined {
  if (req.method !== 'GET') return 'websocket upgrade must be a GET';
  if (req.headers['sec-websocket-version'] !== '13') return 'unsupported Sec-WebSocket-Version';
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || Buffer.from(key, 'base64').length !== 16) {
    return 'missing or malformed Sec-WebSocket-Key';
  }
  return undefined;
}

/** Writes the 101 response; the caller has validated the request. */
export function acceptWebSocket(req: IncomingMessage, socket: Duplex, protocol: string): void {
  const lines = [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${webSocketAccept(String(req.headers['sec-websocket-key']))}`,
  ];
  if (protocol) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
  socket.write(lines.join('\r\n') + '\r\n\r\n');
}

/**
 * Server end of a WebSocket. Events: 'message' (data: Buffer, binary: boolean),
 * 'close' (code: number) once the connection is gone.
 */
export class WebSocketConnection extends EventEmitter {
  private readonly reader = new WsFrameReader(MAX_MESSAGE);
  private fragments: Buffer[] = [];
  private fragmentSize = 0;
  private fragmentOpcode = 0;
  private closeSent = false;
  private closed = false;
  private closeCode = 1006;
  private writeWaiters: (() => void)[] = [];
  private pausedBy = new Set<unknown>();

  constructor(
    private readonly socket: Duplex,
    opts: { idleTimeoutMs?: number } = {},
  ) {
    super();
    socket.on('data', (c: Buffer) => this.feed(c));
    socket.on('drain', () => this.flushWaiters());
    socket.on('end', () => this.destroy());
    socket.on('close', () => this.destroy());
    socket.on('error', () => this.destroy());
    const s = socket as Duplex & { setTimeout?: (ms: number, cb?: () => void) => void };
    if (opts.idleTimeoutMs && typeof s.setTimeout === 'function') {
      s.setTimeout(opts.idleTimeoutMs, () => this.close(1001, 'idle timeout'));
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends one unfragmented message; false when the socket's buffer is full. */
  send(data: Buffer | string, binary = true): boolean {
    if (this.closed || this.closeSent || this.socket.destroyed) return true;
    const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    return this.socket.write(encodeWsFrame(binary ? Opcode.Binary : Opcode.Text, payload));
  }

  whenWritable(fn: () => void): void {
    if (this.closed || this.closeSent) return fn();
    this.writeWaiters.push(fn);
  }

  /** Stops reading the socket until every holder has resumed (inbound back-pressure). */
  pause(holder: unknown): void {
    this.pausedBy.add(holder);
    this.socket.pause();
  }

  resume(holder: unknown): void {
    if (this.pausedBy.delete(holder) && this.pausedBy.size === 0 && !this.closed) {
      this.socket.resume();
    }
  }

  /** Starts the closing handshake; the socket is dropped if the peer does not answer. */
  close(code = 1000, reason = ''): void {
    if (this.closed || this.closeSent) return;
    this.closeSent = true;
    this.closeCode = code;
    const p = Buffer.alloc(2 + Buffer.byteLength(reason));
    p.writeUInt16BE(code, 0);
    p.write(reason, 2);
    this.socket.write(encodeWsFrame(Opcode.Close, p));
    this.socket.end();
    this.flushWaiters();
    setTimeout(() => this.destroy(), 5_000).unref();
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.flushWaiters();
    if (!this.socket.destroyed) this.socket.destroy();
    this.emit('close', this.closeCode);
  }

  feed(chunk: Buffer): void {
    if (this.closed) return;
    try {
      for (const f of this.reader.push(chunk)) {
        if (this.closed) return;
        if (!f.masked) throw new WebSocketProtocolError('client frames must be masked');
        if (f.opcode >= 0x8) this.onControl(f.opcode, f.fin, f.payload);
        else this.onDataFrame(f.opcode, f.fin, f.payload);
      }
    } catch (err) {
      const code = err instanceof WebSocketProtocolError ? err.closeCode : 1011;
      this.close(code, err instanceof Error ? err.message.slice(0, 100) : '');
    }
  }

  private onControl(opcode: number, fin: boolean, payload: Buffer): void {
    if (!fin || payload.length > 125) throw new WebSocketProtocolError('bad control frame');
    switch (opcode) {
      case Opcode.Ping:
        if (!this.closeSent) this.socket.write(encodeWsFrame(Opcode.Pong, payload));
        return;
      case Opcode.Pong:
        return;
      case Opcode.Close: {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        if (!this.closeSent) {
          this.closeSent = true;
          this.closeCode = code;
          // Echo the code as RFC 6455 5.5.1 asks, then end our side.
          this.socket.write(encodeWsFrame(Opcode.Close, payload.subarray(0, 2)));
          this.socket.end();
        }
        this.destroy();
        return;
      }
      default:
        throw new WebSocketProtocolError(`unknown control opcode ${opcode}`);
    }
  }

  private onDataFrame(opcode: number, fin: boolean, payload: Buffer): void {
    if (opcode === Opcode.Continuation) {
      if (this.fragmentOpcode === 0) throw new WebSocketProtocolError('unexpected continuation');
    } else if (opcode === Opcode.Text || opcode === Opcode.Binary) {
      if (this.fragmentOpcode !== 0) throw new WebSocketProtocolError('expected continuation');
      this.fragmentOpcode = opcode;
    } else {
      throw new WebSocketProtocolError(`unknown opcode ${opcode}`);
    }
    this.fragments.push(payload);
    this.fragmentSize += payload.length;
    if (this.fragmentSize > MAX_MESSAGE) throw new WebSocketProtocolError('message too big', 1009);
    if (!fin) return;
    const message =
      this.fragments.length === 1 ? this.fragments[0]! : Buffer.concat(this.fragments);
    const binary = this.fragmentOpcode === Opcode.Binary;
    this.fragments = [];
    this.fragmentSize = 0;
    this.fragmentOpcode = 0;
    this.emit('message', message, binary);
  }

  private flushWaiters(): void {
    const w = this.writeWaiters;
    this.writeWaiters = [];
    for (const fn of w) fn();
  }
}
