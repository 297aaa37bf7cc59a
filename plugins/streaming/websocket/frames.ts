// RFC 6455 section 5.2 framing: FIN + opcode, MASK bit + 7-bit length (126: a
// 16-bit length follows, 127: a 64-bit one), a 4-byte masking key on frames from
// clients, then the payload.

export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

export interface WsFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

export class WebSocketProtocolError extends Error {
  constructor(
    message: string,
    /** Close code to send (1002 protocol error, 1009 too big). */
    readonly closeCode = 1002,
  ) {
    super(message);
    this.name = 'WebSocketProtocolError';
  }
}

export function encodeWsFrame(opcode: number, payload: Buffer, fin = true, mask?: Buffer): Buffer {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 0x10000 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | opcode;
  head[1] = (mask ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  else if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!mask) return len === 0 ? head : Buffer.concat([head, payload]);
  mask.copy(head, 2 + ext);
  const body = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) body[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([head, body]);
}

function unmask(payload: Buffer, mask: Buffer): void {
  for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
}

/** Incremental frame reader; the payload of masked frames comes back unmasked. */
export class WsFrameReader {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly maxFrame: number) {}

  push(chunk: Buffer): WsFrame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: WsFrame[] = [];
    let off = 0;
    for (;;) {
      const avail = this.buf.length - off;
      if (avail < 2) break;
      const b0 = this.buf[off]!;
      const b1 = this.buf[off + 1]!;
      if (b0 & 0x70) throw new WebSocketProtocolError('reserved bits set without an extension');
      const masked = (b1 & 0x80) !== 0;
      let len = b1 & 0x7f;
      let hdr = 2;
      if (len === 126) {
        if (avail < 4) break;
        len = this.buf.readUInt16BE(off + 2);
        hdr = 4;
      } else if (len === 127) {
        if (avail < 10) break;
        const big = this.buf.readBigUInt64BE(off + 2);
        if (big > BigInt(this.maxFrame)) {
          throw new WebSocketProtocolError('frame too large', 1009);
        }
        len = Number(big);
        hdr = 10;
      }
      if (len > this.maxFrame) throw new WebSocketProtocolError('frame too large', 1009);
      const total = hdr + (masked ? 4 : 0) + len;
      if (avail < total) break;
      const payload = Buffer.from(this.buf.subarray(off + total - len, off + total));
      if (masked) unmask(payload, this.buf.subarray(off + hdr, off + hdr + 4));
      frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, masked, payload });
      off += total;
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(off));
    return frames;
  }
}
