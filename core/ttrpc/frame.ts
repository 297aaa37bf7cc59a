import { BerthError } from '../errors/catalogue.js';

// ttrpc framing (containerd/ttrpc PROTOCOL.md): a 10-byte big-endian header
// (payload length, stream id, type, flags) followed by the payload.

export const HEADER_LENGTH = 10;

/** Largest payload either side accepts; a fixed constant in the Go implementation. */
export const MESSAGE_LENGTH_MAX = 4 << 20;

export const MessageType = {
  Request: 1,
  Response: 2,
  Data: 3,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Flag bits in header byte 9; their meaning depends on the message type (protocol 1.2). */
export const Flags = {
  RemoteClosed: 0x01,
  RemoteOpen: 0x02,
  NoData: 0x04,
} as const;

export interface FrameHeader {
  /** Payload length in bytes (header not counted). */
  length: number;
  streamId: number;
  /** Raw type byte; unknown values are passed through so receivers can ignore them. */
  type: number;
  flags: number;
}

export interface Frame {
  header: FrameHeader;
  payload: Buffer;
}

export type FrameEvent =
  | { kind: 'frame'; header: FrameHeader; payload: Buffer }
  /** A frame announced more than MESSAGE_LENGTH_MAX bytes; its payload was skipped. */
  | { kind: 'oversized'; header: FrameHeader };

/** Raised when a sender would put more than MESSAGE_LENGTH_MAX bytes in one frame. */
export class OversizedMessageError extends BerthError {
  readonly length: number;

  constructor(length: number) {
    super('ResourceExhausted', oversizedMessage(length));
    this.name = 'OversizedMessageError';
    this.length = length;
  }
}

/** The status message the Go implementation uses for oversized frames. */
export function oversizedMessage(length: number): string {
  return `message length ${length} exceed maximum message size of ${MESSAGE_LENGTH_MAX}`;
}

export function encodeHeader(header: FrameHeader): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_LENGTH);
  buf.writeUInt32BE(header.length >>> 0, 0);
  buf.writeUInt32BE(header.streamId >>> 0, 4);
  buf.writeUInt8(header.type & 0xff, 8);
  buf.writeUInt8(header.flags & 0xff, 9);
  return buf;
}

export function decodeHeader(buf: Uint8Array): FrameHeader {
  if (buf.length < HEADER_LENGTH) {
    throw new RangeError(`ttrpc: header needs ${HEADER_LENGTH} bytes, got ${buf.length}`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, HEADER_LENGTH);
  return {
    length: view.getUint32(0, false),
    streamId: view.getUint32(4, false),
    type: view.getUint8(8),
    flags: view.getUint8(9),
  };
}

/** Encode one complete frame; refuses payloads over the limit before anything is written. */
export function encodeFrame(
  streamId: number,
  type: MessageType,
  flags: number,
  payload: Uint8Array = new Uint8Array(0),
): Buffer {
  if (payload.length > MESSAGE_LENGTH_MAX) throw new OversizedMessageError(payload.length);
  const header = encodeHeader({ length: payload.length, streamId, type, flags });
  return Buffer.concat([header, payload]);
}

/**
 * Incremental frame parser. Feed it socket chunks in order; it returns the frames
 * completed by each chunk, whatever the chunk boundaries. Oversized frames are
 * reported by header and their payload bytes skipped, so the stream stays in sync.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private header: FrameHeader | undefined;
  private discarding = 0;

  /** Bytes received but not yet part of a completed or skipped frame. */
  get pendingBytes(): number {
    return this.buffered + (this.header ? HEADER_LENGTH : 0) + this.discarding;
  }

  push(chunk: Uint8Array): FrameEvent[] {
    const events: FrameEvent[] = [];
    if (chunk.length > 0) {
      this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      this.buffered += chunk.length;
    }
    for (;;) {
      if (this.discarding > 0) {
        const n = Math.min(this.discarding, this.buffered);
        this.take(n, false);
        this.discarding -= n;
        if (this.discarding > 0) break;
      }
      if (!this.header) {
        if (this.buffered < HEADER_LENGTH) break;
        const header = decodeHeader(this.take(HEADER_LENGTH, true));
        if (header.length > MESSAGE_LENGTH_MAX) {
          events.push({ kind: 'oversized', header });
          this.discarding = header.length;
          continue;
        }
        this.header = header;
      }
      if (this.buffered < this.header.length) break;
      const payload = this.take(this.header.length, true);
      events.push({ kind: 'frame', header: this.header, payload });
      this.header = undefined;
    }
    return events;
  }

  /** Remove n buffered bytes from the front, returning them when asked. */
  private take(n: number, keep: true): Buffer;
  private take(n: number, keep: false): void;
  private take(n: number, keep: boolean): Buffer | void {
    this.buffered -= n;
    const first = this.chunks[0];
    if (first && first.length >= n) {
      // Common case: the bytes sit in one chunk, so slice without copying.
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return keep ? out : undefined;
    }
    const out = keep ? Buffer.allocUnsafe(n) : undefined;
    let written = 0;
    while (written < n) {
      const c = this.chunks[0]!;
      const want = Math.min(c.length, n - written);
      if (out) c.copy(out, written, 0, want);
      written += want;
      if (want === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(want);
    }
    return out;
  }
}
