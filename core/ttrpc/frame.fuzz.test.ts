import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunked, cuts, fuzz, hostileBytes } from '../../api/fuzz.js';
import {
  FrameReader,
  HEADER_LENGTH,
  MESSAGE_LENGTH_MAX,
  encodeFrame,
  encodeHeader,
  type FrameEvent,
  type MessageType,
} from './frame.js';

const frame = fc.record({
  streamId: fc.nat({ max: 0xffffffff }),
  type: fc.constantFrom(1, 2, 3) as fc.Arbitrary<MessageType>,
  flags: fc.nat({ max: 0xff }),
  payload: fc.uint8Array({ maxLength: 300 }),
});

const encoded = fc
  .array(frame, { maxLength: 6 })
  .map((fs) => Buffer.concat(fs.map((f) => encodeFrame(f.streamId, f.type, f.flags, f.payload))));

/** Headers announcing lengths around and far past the limit. */
const hostileHeader = fc
  .record({
    length: fc.constantFrom(MESSAGE_LENGTH_MAX, MESSAGE_LENGTH_MAX + 1, 0x7fffffff, 0xffffffff),
    streamId: fc.nat({ max: 0xffffffff }),
    type: fc.nat({ max: 0xff }),
    flags: fc.nat({ max: 0xff }),
  })
  .map(encodeHeader);

const input = fc.oneof(
  hostileBytes(encoded),
  fc
    .tuple(hostileHeader, fc.uint8Array({ maxLength: 64 }))
    .map(([h, rest]) => Buffer.concat([h, rest])),
);

function feed(chunks: Buffer[]): FrameEvent[] {
  const r = new FrameReader();
  return chunks.flatMap((c) => r.push(c));
}

const view = (events: FrameEvent[]) =>
  events.map((e) =>
    e.kind === 'frame' ? { ...e.header, payload: Buffer.from(e.payload).toString('hex') } : e,
  );

describe('ttrpc FrameReader (fuzz)', () => {
  it('decodes what encodeFrame wrote, however the bytes are split', async () => {
    await fuzz(
      'ttrpc frames round trip',
      fc.property(fc.array(frame, { maxLength: 6 }), cuts, (fs, cs) => {
        const bytes = Buffer.concat(
          fs.map((f) => encodeFrame(f.streamId, f.type, f.flags, f.payload)),
        );
        const r = new FrameReader();
        const events = chunked(bytes, cs).flatMap((c) => r.push(c));
        expect(view(events)).toEqual(
          view(
            fs.map((f) => ({
              kind: 'frame',
              header: {
                length: f.payload.length,
                streamId: f.streamId,
                type: f.type,
                flags: f.flags,
              },
              payload: Buffer.from(f.payload),
            })),
          ),
        );
        expect(r.pendingBytes).toBe(0);
      }),
    );
  });

  it('never throws on hostile bytes, reads the same events whatever the split and holds only what it was fed', async () => {
    await fuzz(
      'ttrpc frames hostile',
      fc.property(input, cuts, (bytes, cs) => {
        const whole = feed([bytes]);
        expect(view(feed(chunked(bytes, cs)))).toEqual(view(whole));
        let consumed = 0;
        for (const e of whole) {
          consumed += HEADER_LENGTH;
          if (e.kind === 'frame') {
            expect(e.payload.length).toBe(e.header.length);
            consumed += e.payload.length;
          } else {
            expect(e.header.length).toBeGreaterThan(MESSAGE_LENGTH_MAX);
          }
        }
        expect(consumed).toBeLessThanOrEqual(bytes.length);
      }),
    );
  });
});
