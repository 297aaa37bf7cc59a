import { Duplex, PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectClearError, fuzz, mutated } from '../../../api/fuzz.js';
import {
  encodeData,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeSynStream,
  encodeWindowUpdate,
  FrameReader,
  SpdyProtocolError,
  type SpdyFrame,
} from './frames.js';
import { encodeHeaderBlock, HeaderCompressor } from './headers.js';
import { SpdySession, type SpdyStream } from './session.js';

// A whole session fed hostile traffic: it may refuse the connection, but only
// with a SpdyProtocolError, never an exception that would reach the daemon.

const streamId = fc.integer({ min: 0, max: 12 });
const BARRIER_PING = 0x7ffffff1;

/** One step of client traffic; header blocks are compressed in order at send time. */
type Step =
  | { kind: 'open'; id: number; fin: boolean; headers: Record<string, string> }
  | { kind: 'frame'; bytes: Buffer };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('open' as const),
    id: streamId,
    fin: fc.boolean(),
    headers: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), {
      maxKeys: 3,
    }),
  }),
  fc
    .oneof(
      fc
        .tuple(streamId, fc.uint8Array({ maxLength: 200 }), fc.boolean())
        .map(([id, d, fin]) => encodeData(id, Buffer.from(d), fin)),
      fc.tuple(streamId, fc.nat({ max: 12 })).map(([id, s]) => encodeRstStream(id, s)),
      fc.nat({ max: 0xffffffff }).map(encodePing),
      fc.tuple(streamId, fc.nat()).map(([id, d]) => encodeWindowUpdate(id, d)),
      fc.constant(encodeSettings([{ id: 7, value: 1 << 20 }])),
      // A SYN_STREAM whose block is not from our compression context.
      fc
        .tuple(streamId, fc.uint8Array({ maxLength: 40 }))
        .map(([id, b]) => encodeSynStream(id, Buffer.from(b))),
      // Control frames of any type with any payload, framed correctly.
      fc
        .tuple(fc.nat({ max: 0xffff }), fc.nat({ max: 0xff }), fc.uint8Array({ maxLength: 40 }))
        .map(([type, flags, p]) => {
          const h = Buffer.alloc(8);
          h.writeUInt32BE((0x80030000 | type) >>> 0, 0);
          h.writeUInt32BE(((flags << 24) | p.length) >>> 0, 4);
          return Buffer.concat([h, p]);
        }),
    )
    .map((bytes) => ({ kind: 'frame' as const, bytes })),
);

/** Bytes that may break framing; sent last since nothing after them is framed. */
const tail = fc.option(mutated(fc.constant(encodeSynStream(99, encodeHeaderBlock({ a: 'b' })))), {
  nil: undefined,
});

async function run(steps: Step[], trailing: Buffer | undefined): Promise<void> {
  const toServer = new PassThrough();
  const fromServer = new PassThrough();
  const session = new SpdySession(Duplex.from({ readable: toServer, writable: fromServer }));
  const errors: unknown[] = [];
  session.on('protocolError', (err: unknown) => errors.push(err));
  session.on('stream', (s: SpdyStream) => s.resume());
  const closed = new Promise<void>((resolve) => session.once('close', resolve));
  const reader = new FrameReader();
  const barrier = new Promise<void>((resolve) => {
    fromServer.on('data', (c: Buffer) => {
      const frames: SpdyFrame[] = reader.push(c);
      if (frames.some((f) => f.type === 'ping' && f.id === BARRIER_PING)) resolve();
    });
  });
  const compressor = new HeaderCompressor();
  try {
    for (const s of steps) {
      toServer.write(
        s.kind === 'open'
          ? encodeSynStream(s.id, await compressor.compress(s.headers), { fin: s.fin })
          : s.bytes,
      );
    }
    // Frames are handled in order, so the echo of this ping means all came before.
    toServer.write(encodePing(BARRIER_PING));
    await Promise.race([barrier, closed]);
    if (trailing) toServer.write(trailing);
    toServer.end();
    await closed;
  } finally {
    compressor.close();
    session.destroy();
  }
  for (const err of errors) expectClearError(err, SpdyProtocolError);
  expect(session.openStreams).toBe(0);
}

describe('SpdySession (fuzz)', () => {
  it('survives hostile traffic, refusing it only with SpdyProtocolError', async () => {
    await fuzz(
      'spdy session hostile',
      fc.asyncProperty(fc.array(step, { maxLength: 12 }), tail, run),
    );
  });
});
