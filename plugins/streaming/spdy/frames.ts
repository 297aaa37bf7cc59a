// SPDY/3 frame layout (draft 3 section 2.2). Control frames: C=1, 15-bit version,
// 16-bit type, 8-bit flags, 24-bit length. Data frames: C=0, 31-bit stream id,
// 8-bit flags, 24-bit length. All integers are big-endian.

export const SPDY_VERSION = 3;
export const MAX_FRAME_LENGTH = 0xffffff;

export const ControlType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

export const RstStatus = {
  ProtocolError: 1,
  InvalidStream: 2,
  RefusedStream: 3,
  UnsupportedVersion: 4,
  Cancel: 5,
  InternalError: 6,
  FlowControlError: 7,
  StreamInUse: 8,
  StreamAlreadyClosed: 9,
  FrameTooLarge: 11,
} as const;

export const GoAwayStatus = { Ok: 0, ProtocolError: 1, InternalError: 2 } as const;

export const Setting = { MaxConcurrentStreams: 4, InitialWindowSize: 7 } as const;

export type SpdyFrame =
  | { type: 'data'; streamId: number; fin: boolean; data: Buffer }
  | {
      type: 'syn_stream';
      streamId: number;
      associatedId: number;
      priority: number;
      fin: boolean;
      unidirectional: boolean;
      headerBlock: Buffer;
    }
  | { type: 'syn_reply'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { type: 'headers'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { type: 'rst_stream'; streamId: number; status: number }
  | { type: 'settings'; entries: { flags: number; id: number; value: number }[] }
  | { type: 'ping'; id: number }
  | { type: 'goaway'; lastGoodStreamId: number; status: number }
  | { type: 'window_update'; streamId: number; delta: number }
  | { type: 'unknown'; controlType: number };

export class SpdyProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpdyProtocolError';
  }
}

const STREAM_ID_MASK = 0x7fffffff;

/** Incremental frame reader: feed bytes as they arrive, get whole frames back. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): SpdyFrame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: SpdyFrame[] = [];
    let off = 0;
    while (this.buf.length - off >= 8) {
      const length = this.buf.readUIntBE(off + 5, 3);
      if (this.buf.length - off < 8 + length) break;
      frames.push(parseFrame(this.buf.subarray(off, off + 8 + length)));
      off += 8 + length;
    }
    // Copy the remainder so one small leftover does not pin a large input chunk.
    this.buf = off === this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(off));
    return frames;
  }

  /** Bytes received but not yet forming a whole frame. */
  get pending(): number {
    return this.buf.length;
  }
}

function need(p: Buffer, n: number, what: string): void {
  if (p.length < n) throw new SpdyProtocolError(`${what} frame too short (${p.length} bytes)`);
}

/** Parses one complete frame (header included). */
export function parseFrame(frame: Buffer): SpdyFrame {
  const first = frame.readUInt32BE(0);
  const flags = frame[4]!;
  const p = frame.subarray(8);
  if ((first & 0x80000000) === 0) {
    return {
      type: 'data',
      streamId: first & STREAM_ID_MASK,
      fin: (flags & FLAG_FIN) !== 0,
      data: p,
    };
  }
  const version = (first >>> 16) & 0x7fff;
  const type = first & 0xffff;
  if (version !== SPDY_VERSION) {
    throw new SpdyProtocolError(`unsupported SPDY version ${version}`);
  }
  const fin = (flags & FLAG_FIN) !== 0;
  switch (type) {
    case ControlType.SynStream:
      need(p, 10, 'SYN_STREAM');
      return {
        type: 'syn_stream',
        streamId: p.readUInt32BE(0) & STREAM_ID_MASK,
        associatedId: p.readUInt32BE(4) & STREAM_ID_MASK,
        priority: p[8]! >>> 5,
        fin,
        unidirectional: (flags & FLAG_UNIDIRECTIONAL) !== 0,
        headerBlock: p.subarray(10),
      };
    case ControlType.SynReply:
      need(p, 4, 'SYN_REPLY');
      return {
        type: 'syn_reply',
        streamId: p.readUInt32BE(0) & STREAM_ID_MASK,
        fin,
        headerBlock: p.subarray(4),
      };
    case ControlType.Headers:
      need(p, 4, 'HEADERS');
      return {
        type: 'headers',
        streamId: p.readUInt32BE(0) & STREAM_ID_MASK,
        fin,
        headerBlock: p.subarray(4),
      };
    case ControlType.RstStream:
      need(p, 8, 'RST_STREAM');
      return {
        type: 'rst_stream',
        streamId: p.readUInt32BE(0) & STREAM_ID_MASK,
        status: p.readUInt32BE(4),
      };
    case ControlType.Settings: {
      need(p, 4, 'SETTINGS');
      const count = p.readUInt32BE(0);
      need(p, 4 + count * 8, 'SETTINGS');
      const entries = [];
      for (let i = 0; i < count; i++) {
        const o = 4 + i * 8;
        entries.push({ flags: p[o]!, id: p.readUIntBE(o + 1, 3), value: p.readUInt32BE(o + 4) });
      }
      return { type: 'settings', entries };
    }
    case ControlType.Ping:
      need(p, 4, 'PING');
      return { type: 'ping', id: p.readUInt32BE(0) };
    case ControlType.GoAway:
      // Some SPDY/2-era peers omit the status; treat it as OK.
      need(p, 4, 'GOAWAY');
      return {
        type: 'goaway',
        lastGoodStreamId: p.readUInt32BE(0) & STREAM_ID_MASK,
        status: p.length >= 8 ? p.readUInt32BE(4) : 0,
      };
    case ControlType.WindowUpdate:
      need(p, 8, 'WINDOW_UPDATE');
      return {
        type: 'window_update',
        streamId: p.readUInt32BE(0) & STREAM_ID_MASK,
        delta: p.readUInt32BE(4) & STREAM_ID_MASK,
      };
    default:
      return { type: 'unknown', controlType: type };
  }
}

function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_LENGTH) throw new SpdyProtocolError('control frame too large');
  const h = Buffer.alloc(8);
  h.writeUInt32BE((0x80000000 | (SPDY_VERSION << 16) | type) >>> 0, 0);
  h.writeUInt32BE(((flags << 24) | payload.length) >>> 0, 4);
  return Buffer.concat([h, payload]);
}

export function encodeData(streamId: number, data: Buffer, fin: boolean): Buffer {
  if (data.length > MAX_FRAME_LENGTH) throw new SpdyProtocolError('data frame too large');
  const h = Buffer.alloc(8);
  h.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  h.writeUInt32BE((((fin ? FLAG_FIN : 0) << 24) | data.length) >>> 0, 4);
  return data.length === 0 ? h : Buffer.concat([h, data]);
}

export function encodeSynStream(
  streamId: number,
  headerBlock: Buffer,
  opts: { fin?: boolean; associatedId?: number; priority?: number } = {},
): Buffer {
  const p = Buffer.alloc(10);
  p.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  p.writeUInt32BE((opts.associatedId ?? 0) & STREAM_ID_MASK, 4);
  p[8] = ((opts.priority ?? 0) & 7) << 5;
  return controlFrame(
    ControlType.SynStream,
    opts.fin ? FLAG_FIN : 0,
    Buffer.concat([p, headerBlock]),
  );
}

export function encodeSynReply(streamId: number, headerBlock: Buffer, fin = false): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  return controlFrame(ControlType.SynReply, fin ? FLAG_FIN : 0, Buffer.concat([p, headerBlock]));
}

export function encodeRstStream(streamId: number, status: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  p.writeUInt32BE(status, 4);
  return controlFrame(ControlType.RstStream, 0, p);
}

export function encodeSettings(entries: { id: number; value: number; flags?: number }[]): Buffer {
  const p = Buffer.alloc(4 + entries.length * 8);
  p.writeUInt32BE(entries.length, 0);
  entries.forEach((e, i) => {
    const o = 4 + i * 8;
    p[o] = e.flags ?? 0;
    p.writeUIntBE(e.id, o + 1, 3);
    p.writeUInt32BE(e.value >>> 0, o + 4);
  });
  return controlFrame(ControlType.Settings, 0, p);
}

export function encodePing(id: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(id >>> 0, 0);
  return controlFrame(ControlType.Ping, 0, p);
}

export function encodeGoAway(lastGoodStreamId: number, status: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(lastGoodStreamId & STREAM_ID_MASK, 0);
  p.writeUInt32BE(status, 4);
  return controlFrame(ControlType.GoAway, 0, p);
}

export function encodeWindowUpdate(streamId: number, delta: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  p.writeUInt32BE(delta & STREAM_ID_MASK, 4);
  return controlFrame(ControlType.WindowUpdate, 0, p);
}
