// HTTP/2 framing facts (RFC 9113 §4, §6) the front door needs.

export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER_SIZE = 9;
/** SETTINGS_MAX_FRAME_SIZE's initial value; berthd's server never raises it. */
export const MAX_FRAME_SIZE = 16384;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PUSH_PROMISE: 0x5,
  GOAWAY: 0x7,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** HTTP/2 error code names (RFC 9113 §7), for logs. */
const ERROR_NAMES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];

export function errorName(code: number): string {
  return ERROR_NAMES[code] ?? `0x${code.toString(16)}`;
}

export function frameHeader(length: number, type: number, flags: number, streamId: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
  h.writeUIntBE(length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return h;
}

/** A header block as HEADERS plus CONTINUATION frames of at most MAX_FRAME_SIZE. */
export function headerFrames(
  streamId: number,
  flags: number,
  priority: Buffer | undefined,
  block: Buffer,
): Buffer[] {
  const payload = priority ? Buffer.concat([priority, block]) : block;
  const out: Buffer[] = [];
  for (let at = 0; at === 0 || at < payload.length; at += MAX_FRAME_SIZE) {
    const piece = payload.subarray(at, at + MAX_FRAME_SIZE);
    const last = at + MAX_FRAME_SIZE >= payload.length;
    const type = at === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    const f = (at === 0 ? flags : 0) | (last ? Flag.END_HEADERS : 0);
    out.push(frameHeader(piece.length, type, f, streamId), piece);
  }
  return out;
}
