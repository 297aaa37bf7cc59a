import { Duplex, Readable, Writable } from 'node:stream';
import type { WebSocketConnection } from './connection.js';

// Kubernetes channel framing over WebSocket: each message starts with its channel
// number (binary protocols) or the channel as one ASCII digit followed by base64
// (base64 protocols). v5 adds a close signal: channel 255 carrying the number of
// the channel the client is done writing to.

export const CLOSE_CHANNEL = 255;
const MAX_PAYLOAD = 48 * 1024; // a multiple of 3 keeps base64 chunks unpadded

export class ChannelMux {
  private readonly readers = new Map<number, Readable>();

  constructor(
    private readonly ws: WebSocketConnection,
    private readonly base64: boolean,
    private readonly closeSignal: boolean,
  ) {
    ws.on('message', (data: Buffer, binary: boolean) => this.onMessage(data, binary));
    ws.on('close', () => {
      for (const r of this.readers.values()) if (!r.readableEnded) r.push(null);
    });
  }

  /** Data the client sends on channel ch. */
  reader(ch: number): Readable {
    let r = this.readers.get(ch);
    if (!r) {
      const holder = {};
      r = new Readable({ highWaterMark: 256 * 1024, read: () => this.ws.resume(holder) });
      (r as Readable & { holder?: object }).holder = holder;
      r.on('error', () => undefined);
      r.on('close', () => this.ws.resume(holder));
      this.readers.set(ch, r);
    }
    return r;
  }

  /** Sends on channel ch; ending it sends nothing (the protocol has no server-side close). */
  writer(ch: number): Writable {
    const w = new Writable({
      highWaterMark: 64 * 1024,
      write: (chunk: Buffer, _enc, cb) => {
        if (this.send(ch, chunk)) cb();
        else this.ws.whenWritable(() => cb());
      },
    });
    w.on('error', () => undefined);
    return w;
  }

  /** Sends data (possibly empty) on ch; false when the socket's buffer is full. */
  send(ch: number, data: Buffer): boolean {
    let ok = true;
    let off = 0;
    do {
      const part = data.subarray(off, off + MAX_PAYLOAD);
      ok = this.base64
        ? this.ws.send(String.fromCharCode(48 + ch) + part.toString('base64'), false)
        : this.ws.send(Buffer.concat([Buffer.from([ch]), part]), true);
      off += MAX_PAYLOAD;
    } while (off < data.length);
    return ok;
  }

  private onMessage(data: Buffer, binary: boolean): void {
    if (data.length === 0) return;
    let ch: number;
    let payload: Buffer;
    if (this.base64) {
      if (binary) return;
      ch = data[0]! - 48;
      payload = Buffer.from(data.subarray(1).toString('latin1'), 'base64');
    } else {
      ch = data[0]!;
      payload = data.subarray(1);
    }
    if (ch === CLOSE_CHANNEL && this.closeSignal) {
      const target = payload.length > 0 ? this.readers.get(payload[0]!) : undefined;
      if (target && !target.readableEnded) target.push(null);
      return;
    }
    const r = this.readers.get(ch);
    if (!r || r.readableEnded || r.destroyed || payload.length === 0) return;
    if (!r.push(payload)) this.ws.pause((r as Readable & { holder?: object }).holder);
  }
}

/** One port-forward connection on a pair of channels, seen as a Duplex by the runtime. */
export function channelDuplex(mux: ChannelMux, dataChannel: number): Duplex {
  const reader = mux.reader(dataChannel);
  const writer = mux.writer(dataChannel);
  const d = new Duplex({
    allowHalfOpen: true,
    read: () => {
      reader.resume();
    },
    write: (chunk: Buffer, enc, cb) => writer.write(chunk, enc, cb),
    final: (cb) => writer.end(cb),
  });
  reader.pause();
  reader.on('data', (c: Buffer) => {
    if (!d.push(c)) reader.pause();
  });
  reader.on('end', () => d.push(null));
  d.on('error', () => undefined);
  return d;
}
