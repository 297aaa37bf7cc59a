import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunked, cuts, expectClearError, fuzz, hostileBytes, thrown } from '../../../api/fuzz.js';
import {
  encodeData,
  encodeGoAway,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeSynReply,
  encodeSynStream,
  encodeWindowUpdate,
  FrameReader,
  SpdyProtocolError,
  type SpdyFrame,
} from './frames.js';

const streamId = fc.nat({ max: 0x7fffffff });
const u32 = fc.nat({ max: 0xffffffff });
const block = fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b));

const pair = (bytes: Buffer, parsed: SpdyFrame): [Buffer, SpdyFrame] => [bytes, parsed];

/** A frame as the encoders write it, with what parsing must give back. */
const frame: fc.Arbitrary<[Buffer, SpdyFrame]> = fc.oneof(
  fc
    .record({ streamId, data: block, fin: fc.boolean() })
    .map((f) => pair(encodeData(f.streamId, f.data, f.fin), { type: 'data', ...f })),
  fc
    .record({
      streamId,
      associatedId: streamId,
      priority: fc.nat({ max: 7 }),
      fin: fc.boolean(),
      headerBlock: block,
    })
    .map((f) =>
      pair(encodeSynStream(f.streamId, f.headerBlock, f), {
        type: 'syn_stream',
        unidirectional: false,
        ...f,
      }),
    ),
  fc
    .record({ streamId, fin: fc.boolean(), headerBlock: block })
    .map((f) =>
      pair(encodeSynReply(f.streamId, f.headerBlock, f.fin), { type: 'syn_reply', ...f }),
    ),
  fc
    .record({ streamId, status: u32 })
    .map((f) => pair(encodeRstStream(f.streamId, f.status), { type: 'rst_stream', ...f })),
  fc
    .array(fc.record({ flags: fc.nat({ max: 0xff }), id: fc.nat({ max: 0xffffff }), value: u32 }), {
      maxLength: 5,
    })
    .map((entries) => pair(encodeSettings(entries), { type: 'settings', entries })),
  u32.map((id) => pair(encodePing(id), { type: 'ping', id })),
  fc
    .record({ lastGoodStreamId: streamId, status: u32 })
    .map((f) => pair(encodeGoAway(f.lastGoodStreamId, f.status), { type: 'goaway', ...f })),
  fc
    .record({ streamId, delta: streamId })
    .map((f) => pair(encodeWindowUpdate(f.streamId, f.delta), { type: 'window_update', ...f })),
);

const frames = fc.array(frame, { maxLength: 6 });

/** Frames read until the first error, and that error. */
function read(chunks: Buffer[]): { frames: SpdyFrame[]; error?: unknown } {
  const r = new FrameReader();
  const out: SpdyFrame[] = [];
  for (const c of chunks) {
    let got: SpdyFrame[] = [];
    const error = thrown(() => (got = r.push(c)));
    if (error !== undefined) return { frames: out, error };
    out.push(...got);
  }
  return { frames: out };
}

describe('SPDY FrameReader (fuzz)', () => {
  it('parses what the encoders wrote, however the bytes are split', async () => {
    await fuzz(
      'spdy frames round trip',
      fc.property(frames, cuts, (fs, cs) => {
        const bytes = Buffer.concat(fs.map(([b]) => b));
        const r = new FrameReader();
        expect(chunked(bytes, cs).flatMap((c) => r.push(c))).toEqual(fs.map(([, f]) => f));
        expect(r.pending).toBe(0);
      }),
    );
  });

  it('rejects hostile bytes only with SpdyProtocolError, the same way whatever the split', async () => {
    const valid = frames.map((fs) => Buffer.concat(fs.map(([b]) => b)));
    await fuzz(
      'spdy frames hostile',
      fc.property(hostileBytes(valid), cuts, (bytes, cs) => {
        const whole = read([bytes]);
        const split = read(chunked(bytes, cs));
        if (whole.error !== undefined) expectClearError(whole.error, SpdyProtocolError);
        if (split.error !== undefined) expectClearError(split.error, SpdyProtocolError);
        expect(split.error === undefined).toBe(whole.error === undefined);
        // One throwing push loses the frames it had parsed; without an error both agree.
        if (whole.error === undefined) expect(split.frames).toEqual(whole.frames);
        const payload = split.frames.reduce(
          (n, f) => n + (f.type === 'data' ? f.data.length : 0),
          0,
        );
        expect(payload).toBeLessThanOrEqual(bytes.length);
      }),
    );
  });
});
