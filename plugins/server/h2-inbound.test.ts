import { describe, expect, it } from 'vitest';
import { CLIENT_PREFACE, Flag, frameHeader, FrameType, MAX_FRAME_SIZE } from './h2-frames.js';
import { ClientFrames } from './h2-inbound.js';
import { encodeInteger, encodeString, HpackDecoder } from './hpack.js';

/** A literal field without indexing, with a literal name. */
const literal = (name: string, value: string) =>
  Buffer.concat([
    Buffer.from([0]),
    encodeString(Buffer.from(name)),
    encodeString(Buffer.from(value)),
  ]);
/** `:authority` (static name 1) as a literal with incremental indexing. */
const authority = (value: string) =>
  Buffer.concat([Buffer.from(encodeInteger(1, 6, 0x40)), encodeString(Buffer.from(value))]);
// :method POST, :scheme http, :path /
const REQUEST = Buffer.from([0x83, 0x86, 0x84]);

const frame = (type: number, flags: number, stream: number, payload: Buffer) =>
  Buffer.concat([frameHeader(payload.length, type, flags, stream), payload]);
const SETTINGS = frame(0x4, 0, 0, Buffer.alloc(0));

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

function frames(bytes: Buffer): Frame[] {
  const out: Frame[] = [];
  for (let at = 0; at < bytes.length;) {
    const len = bytes.readUIntBE(at, 3);
    out.push({
      type: bytes[at + 3]!,
      flags: bytes[at + 4]!,
      stream: bytes.readUInt32BE(at + 5),
      payload: bytes.subarray(at + 9, at + 9 + len),
    });
    at += 9 + len;
  }
  return out;
}

/** Feeds `input` in the given piece sizes (cycled) and returns all output. */
function run(input: Buffer, sizes: number[] = [input.length]): { out: Buffer; cf: ClientFrames } {
  const cf = new ClientFrames();
  const outs: Buffer[] = [];
  for (let at = 0, i = 0; at < input.length; i++) {
    const n = sizes[i % sizes.length]!;
    const piece = cf.push(input.subarray(at, at + n));
    if (piece === null) throw new Error('preface refused');
    outs.push(piece);
    at += n;
  }
  return { out: Buffer.concat(outs), cf };
}

const withoutPreface = (b: Buffer) => b.subarray(CLIENT_PREFACE.length);

describe('ClientFrames', () => {
  it('refuses anything but the HTTP/2 client preface, even a byte at a time', () => {
    expect(new ClientFrames().push(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toBeNull();
    const cf = new ClientFrames();
    for (const b of Buffer.from('PRI * HTTP/1.1')) {
      const r = cf.push(Buffer.from([b]));
      if (r === null) return expect(cf.prefaceComplete).toBe(false);
    }
    throw new Error('the wrong preface was accepted');
  });

  const stream = Buffer.concat([
    CLIENT_PREFACE,
    SETTINGS,
    frame(
      FrameType.HEADERS,
      Flag.END_HEADERS,
      1,
      Buffer.concat([REQUEST, authority('/run/b.sock')]),
    ),
    frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from('0000000000', 'hex')),
    frame(
      FrameType.HEADERS,
      Flag.END_HEADERS | Flag.END_STREAM,
      3,
      Buffer.from([...REQUEST, 0xbe]),
    ),
    frame(0x8, 0, 0, Buffer.from('00010000', 'hex')),
  ]);

  it('rewrites the authority and passes every other frame byte for byte, however the bytes are cut', () => {
    const whole = run(stream).out;
    for (const sizes of [[1], [2, 7, 3], [9], [10, 30], [100]]) {
      expect(run(stream, sizes).out.equals(whole), `pieces ${sizes}`).toBe(true);
    }
    const got = frames(withoutPreface(whole));
    const sent = frames(withoutPreface(stream));
    expect(got.map((f) => [f.type, f.flags, f.stream])).toEqual(
      sent.map((f) => [f.type, f.flags, f.stream]),
    );
    const server = new HpackDecoder();
    expect(server.decode(got[1]!.payload).at(-1)!.value).toBe('_run_b.sock');
    // The second request refers to the table entry, which holds the fixed value.
    expect(got[3]!.payload.equals(sent[3]!.payload)).toBe(true);
    expect(server.decode(got[3]!.payload).at(-1)!.value).toBe('_run_b.sock');
    for (const i of [0, 2, 4]) expect(got[i]!.payload.equals(sent[i]!.payload)).toBe(true);
  });

  it('drops padding and keeps priority and END_STREAM when it re-emits HEADERS', () => {
    const priority = Buffer.from('0000000310', 'hex');
    const payload = Buffer.concat([
      Buffer.from([4]),
      priority,
      REQUEST,
      authority('/x'),
      Buffer.alloc(4),
    ]);
    const flags = Flag.PADDED | Flag.PRIORITY | Flag.END_HEADERS | Flag.END_STREAM;
    const { out } = run(
      Buffer.concat([CLIENT_PREFACE, frame(FrameType.HEADERS, flags, 5, payload)]),
    );
    const [h] = frames(withoutPreface(out));
    expect(h!.flags).toBe(Flag.PRIORITY | Flag.END_HEADERS | Flag.END_STREAM);
    expect(h!.payload.subarray(0, 5).equals(priority)).toBe(true);
    expect(new HpackDecoder().decode(h!.payload.subarray(5)).at(-1)!.value).toBe('_x');
  });

  it('reassembles CONTINUATION frames and splits a block that outgrows one frame', () => {
    const big = Buffer.concat([REQUEST, literal('x-big', 'v'.repeat(MAX_FRAME_SIZE - 20))]);
    const input = Buffer.concat([
      CLIENT_PREFACE,
      frame(FrameType.HEADERS, 0, 1, big.subarray(0, 100)),
      frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, big.subarray(100)),
    ]);
    const { out, cf } = run(input, [4096]);
    const got = frames(withoutPreface(out));
    expect(got.map((f) => [f.type, f.flags])).toEqual([
      [FrameType.HEADERS, 0],
      [FrameType.CONTINUATION, Flag.END_HEADERS],
    ]);
    expect(got[0]!.payload.length).toBe(MAX_FRAME_SIZE);
    const fields = new HpackDecoder().decode(Buffer.concat(got.map((f) => f.payload)));
    expect(fields.map((f) => f.name)).toEqual([
      ':authority',
      ':method',
      ':scheme',
      ':path',
      'x-big',
    ]);
    expect(cf.rewritten).toBe(1);
  });

  it('passes through, unchanged, what it cannot follow', () => {
    const cases: [string, Buffer][] = [
      ['HPACK', frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from([0xbf]))],
      [
        'interrupted',
        Buffer.concat([
          frame(FrameType.HEADERS, 0, 1, REQUEST),
          frame(FrameType.DATA, 0, 1, Buffer.alloc(3)),
        ]),
      ],
      ['CONTINUATION without', frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, REQUEST)],
      ['frame of', frame(FrameType.HEADERS, 0, 1, Buffer.alloc(MAX_FRAME_SIZE + 1))],
      ['PUSH_PROMISE', frame(FrameType.PUSH_PROMISE, 0, 1, Buffer.alloc(8))],
    ];
    const later = frame(
      FrameType.HEADERS,
      Flag.END_HEADERS,
      3,
      Buffer.concat([REQUEST, authority('/y')]),
    );
    for (const [reason, bad] of cases) {
      const input = Buffer.concat([CLIENT_PREFACE, bad, later]);
      for (const sizes of [[input.length], [5]]) {
        const { out, cf } = run(input, sizes);
        expect(out.equals(input), reason).toBe(true);
        expect(cf.passthrough).toContain(reason);
      }
    }
  });
});
