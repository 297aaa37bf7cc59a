// HTTP/2 spoken by hand over a unix socket, for requests no well-behaved client
// library would send: odd :authority values, garbage frames, stream floods.

import net from 'node:net';
import { CLIENT_PREFACE, frameHeader } from '../../plugins/server/h2-frames.js';
import { encodeString, HpackDecoder } from '../../plugins/server/hpack.js';

export { CLIENT_PREFACE };

export const frame = (
  type: number,
  flags: number,
  stream: number,
  payload: Buffer = Buffer.alloc(0),
) => Buffer.concat([frameHeader(payload.length, type, flags, stream), payload]);

/** A header field as a literal without indexing and with a literal name: no HPACK state. */
export const literal = (name: string, value: string) =>
  Buffer.concat([
    Buffer.from([0]),
    encodeString(Buffer.from(name)),
    encodeString(Buffer.from(value)),
  ]);

/** A gRPC request header block: POST, http, `path`, plus `extra` fields. */
export const grpcRequest = (path: string, ...extra: Buffer[]) =>
  Buffer.concat([
    Buffer.from([0x83, 0x86]),
    literal(':path', path),
    literal('content-type', 'application/grpc'),
    literal('te', 'trailers'),
    ...extra,
  ]);

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
  /** HEADERS only: the decoded fields. */
  headers?: Record<string, string>;
}

/** A raw client connection that decodes what the server sends. */
export class RawH2 {
  readonly frames: Frame[] = [];
  closed: Promise<void>;
  private buf = Buffer.alloc(0);
  private readonly decoder = new HpackDecoder();
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', () => undefined);
    this.closed = new Promise((r) => socket.once('close', () => r()));
    this.closed.then(() => this.wake());
  }

  static connect(path: string): Promise<RawH2> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path, () => resolve(new RawH2(s)));
      s.once('error', reject);
    });
  }

  write(...bytes: Buffer[]): void {
    this.socket.write(Buffer.concat(bytes));
  }

  /** Resolves once a received frame matches (or the socket closed: then undefined). */
  async until(match: (f: Frame) => boolean): Promise<Frame | undefined> {
    for (;;) {
      const f = this.frames.find(match);
      if (f || this.socket.destroyed) return f;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      const f: Frame = {
        type: this.buf[3]!,
        flags: this.buf[4]!,
        stream: this.buf.readUInt32BE(5) & 0x7fffffff,
        payload: Buffer.from(this.buf.subarray(9, 9 + len)),
      };
      if (f.type === 0x1) {
        // No padding or priority from Node's server; CONTINUATION is not needed here.
        f.headers = Object.fromEntries(
          this.decoder.decode(f.payload).map((x) => [x.name, x.value!]),
        );
      }
      if (f.type === 0x4 && !(f.flags & 1)) this.socket.write(frame(0x4, 1, 0));
      this.frames.push(f);
      this.buf = this.buf.subarray(9 + len);
    }
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
