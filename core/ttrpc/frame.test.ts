import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/catalogue.js';
import {
  Flags,
  FrameReader,
  HEADER_LENGTH,
  MESSAGE_LENGTH_MAX,
  MessageType,
  OversizedMessageError,
  decodeHeader,
  encodeFrame,
  encodeHeader,
  type FrameEvent,
} from './frame.js';

function frames(events: FrameEvent[]) {
  return events.map((e) =>
    e.kind === 'frame'
      ? { ...e.header, payload: Buffer.from(e.payload).toString('hex') }
      : { oversized: e.header.length, streamId: e.header.streamId },
  );
}

describe('frame header', () => {
  it('is 10 bytes, big-endian', () => {
    const buf = encodeHeader({ length: 0x01020304, streamId: 0x0a0b0c0d, type: 3, flags: 5 });
    expect(buf.length).toBe(HEADER_LENGTH);
    expect([...buf]).toEqual([1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 3, 5]);
    expect(decodeHeader(buf)).toEqual({
      length: 0x01020304,
      streamId: 0x0a0b0c0d,
      type: 3,
      flags: 5,
    });
  });

  it('round trips the largest stream id', () => {
    const h = { length: 0, streamId: 0xffffffff, type: 1, flags: 0 };
    expect(decodeHeader(encodeHeader(h))).toEqual(h);
  });

  it('rejects a short header', () => {
    expect(() => decodeHeader(new Uint8Array(9))).toThrow(RangeError);
  });
});

describe('encodeFrame', () => {
  it('prefixes the payload with its header', () => {
    const f = encodeFrame(7, MessageType.Data, Flags.RemoteClosed, Buffer.from('abc'));
    expect(f.toString('hex')).toBe('00000003' + '00000007' + '03' + '01' + '616263');
  });

  it('accepts exactly the limit and refuses one byte more', () => {
    expect(encodeFrame(1, MessageType.Request, 0, new Uint8Array(MESSAGE_LENGTH_MAX)).length).toBe(
      MESSAGE_LENGTH_MAX + HEADER_LENGTH,
    );
    let caught: unknown;
    try {
      encodeFrame(1, MessageType.Request, 0, new Uint8Array(MESSAGE_LENGTH_MAX + 1));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(OversizedMessageError);
    expect(isBerthError(caught, 'ResourceExhausted')).toBe(true);
    expect((caught as Error).message).toBe(
      'message length 4194305 exceed maximum message size of 4194304',
    );
  });
});

describe('FrameReader', () => {
  const a = encodeFrame(1, MessageType.Request, 0, Buffer.from('0102', 'hex'));
  const b = encodeFrame(3, MessageType.Data, Flags.RemoteClosed | Flags.NoData);
  const c = encodeFrame(5, MessageType.Response, 0, Buffer.alloc(300, 0xab));
  const all = Buffer.concat([a, b, c]);
  const expected = [
    { length: 2, streamId: 1, type: 1, flags: 0, payload: '0102' },
    { length: 0, streamId: 3, type: 3, flags: 5, payload: '' },
    { length: 300, streamId: 5, type: 2, flags: 0, payload: 'ab'.repeat(300) },
  ];

  it('parses coalesced frames from one chunk', () => {
    const r = new FrameReader();
    expect(frames(r.push(all))).toEqual(expected);
    expect(r.pendingBytes).toBe(0);
  });

  it('parses frames fed one byte at a time', () => {
    const r = new FrameReader();
    const events: FrameEvent[] = [];
    for (const byte of all) events.push(...r.push(Buffer.from([byte])));
    expect(frames(events)).toEqual(expected);
  });

  it('parses frames split at every possible boundary', () => {
    for (let cut = 1; cut < all.length; cut++) {
      const r = new FrameReader();
      const events = [...r.push(all.subarray(0, cut)), ...r.push(all.subarray(cut))];
      expect(frames(events)).toEqual(expected);
    }
  });

  it('holds back an incomplete frame', () => {
    const r = new FrameReader();
    expect(r.push(c.subarray(0, 50))).toEqual([]);
    expect(r.pendingBytes).toBe(50);
    expect(frames(r.push(c.subarray(50)))).toEqual([expected[2]]);
  });

  it('skips exactly the payload of an oversized frame and stays in sync', () => {
    const length = MESSAGE_LENGTH_MAX + 1;
    const header = encodeHeader({ length, streamId: 9, type: MessageType.Request, flags: 0 });
    const junk = Buffer.alloc(length, 0x5a);
    const r = new FrameReader();
    const events: FrameEvent[] = [];
    // Header and the first junk bytes arrive together, the rest in odd pieces.
    events.push(...r.push(Buffer.concat([header, junk.subarray(0, 1000)])));
    expect(frames(events)).toEqual([{ oversized: length, streamId: 9 }]);
    for (let off = 1000; off < length; off += 65_537) {
      events.push(...r.push(junk.subarray(off, Math.min(length, off + 65_537))));
    }
    expect(events).toHaveLength(1);
    events.push(...r.push(a));
    expect(frames(events)).toEqual([{ oversized: length, streamId: 9 }, expected[0]]);
    expect(r.pendingBytes).toBe(0);
  });

  it('copies payloads that span chunks so later chunks cannot alias them', () => {
    const r = new FrameReader();
    const first = Buffer.from(a.subarray(0, 11));
    r.push(first);
    const [ev] = r.push(Buffer.from(a.subarray(11)));
    first.fill(0);
    expect(ev?.kind === 'frame' && Buffer.from(ev.payload).toString('hex')).toBe('0102');
  });
});
