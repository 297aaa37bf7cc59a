import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { SPDY3_DICTIONARY } from './dictionary.js';
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
  parseFrame,
  SpdyProtocolError,
} from './frames.js';
import {
  decodeHeaderBlock,
  encodeHeaderBlock,
  HeaderCompressor,
  HeaderDecompressor,
} from './headers.js';

function adler32(b: Buffer): number {
  let a = 1;
  let s = 0;
  for (const x of b) {
    a = (a + x) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

describe('SPDY/3 dictionary', () => {
  it('is the 1423 bytes whose Adler-32 SPDY/3 header streams name as DICTID', () => {
    expect(SPDY3_DICTIONARY.length).toBe(1423);
    expect(adler32(SPDY3_DICTIONARY)).toBe(0xe3c6a7c2);
  });
});

describe('frames', () => {
  it('round-trips every frame type', () => {
    const block = Buffer.from('hdr');
    expect(parseFrame(encodeSynStream(5, block, { fin: true, priority: 3 }))).toEqual({
      type: 'syn_stream',
      streamId: 5,
      associatedId: 0,
      priority: 3,
      fin: true,
      unidirectional: false,
      headerBlock: block,
    });
    expect(parseFrame(encodeSynReply(5, block))).toEqual({
      type: 'syn_reply',
      streamId: 5,
      fin: false,
      headerBlock: block,
    });
    expect(parseFrame(encodeData(7, Buffer.from('abc'), true))).toEqual({
      type: 'data',
      streamId: 7,
      fin: true,
      data: Buffer.from('abc'),
    });
    expect(parseFrame(encodeRstStream(9, 5))).toEqual({
      type: 'rst_stream',
      streamId: 9,
      status: 5,
    });
    expect(parseFrame(encodePing(0xfffffffe))).toEqual({ type: 'ping', id: 0xfffffffe });
    expect(parseFrame(encodeGoAway(11, 1))).toEqual({
      type: 'goaway',
      lastGoodStreamId: 11,
      status: 1,
    });
    expect(parseFrame(encodeWindowUpdate(3, 65536))).toEqual({
      type: 'window_update',
      streamId: 3,
      delta: 65536,
    });
    expect(parseFrame(encodeSettings([{ id: 7, value: 1 << 20 }]))).toEqual({
      type: 'settings',
      entries: [{ flags: 0, id: 7, value: 1 << 20 }],
    });
  });

  it('has the wire layout of the draft (control bit, version 3, 24-bit length)', () => {
    const f = encodePing(1);
    expect([...f]).toEqual([0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1]);
    const d = encodeData(1, Buffer.from([9]), true);
    expect([...d]).toEqual([0, 0, 0, 1, 0x01, 0, 0, 1, 9]);
  });

  it('reassembles frames split at any byte', () => {
    const bytes = Buffer.concat([
      encodeData(1, Buffer.alloc(1000, 1), false),
      encodePing(3),
      encodeData(1, Buffer.alloc(0), true),
    ]);
    const reader = new FrameReader();
    const out = [];
    for (let i = 0; i < bytes.length; i += 7) out.push(...reader.push(bytes.subarray(i, i + 7)));
    expect(out.map((f) => f.type)).toEqual(['data', 'ping', 'data']);
    expect(reader.pending).toBe(0);
  });

  it('rejects other SPDY versions and short frames', () => {
    const v2 = encodePing(1);
    v2[1] = 2;
    expect(() => parseFrame(v2)).toThrow(SpdyProtocolError);
    const short = Buffer.from([0x80, 3, 0, 3, 0, 0, 0, 2, 0, 0]);
    expect(() => parseFrame(short)).toThrow(/too short/);
  });

  it('ignores unknown control types', () => {
    const f = encodePing(1);
    f.writeUInt16BE(42, 2);
    expect(parseFrame(f)).toEqual({ type: 'unknown', controlType: 42 });
  });
});

describe('header blocks', () => {
  it('encode name/value pairs with NUL-joined values and lowercase names', () => {
    const raw = encodeHeaderBlock({ StreamType: 'stdin', multi: ['a', 'b'] });
    expect(decodeHeaderBlock(raw)).toEqual({ streamtype: ['stdin'], multi: ['a', 'b'] });
  });

  it('decode headers named like Object.prototype members', () => {
    // `__proto__` once reached the prototype and `push` failed with a TypeError.
    const raw = Buffer.from([
      ...[0, 0, 0, 2],
      ...[0, 0, 0, 9, ...Buffer.from('__proto__'), 0, 0, 0, 1, 0x61],
      ...[0, 0, 0, 11, ...Buffer.from('constructor'), 0, 0, 0, 1, 0x62],
    ]);
    expect(Object.entries(decodeHeaderBlock(raw))).toEqual([
      ['__proto__', ['a']],
      ['constructor', ['b']],
    ]);
  });

  it('split a value into as many NUL-separated values as it holds', () => {
    // Found by fuzzing: spreading 200k values into push() overflowed the stack.
    const values = decodeHeaderBlock(encodeHeaderBlock({ a: '\0'.repeat(200_000) })).a!;
    expect(values).toHaveLength(200_001);
    expect(values.every((v) => v === '')).toBe(true);
  });

  it('keep one compression context per direction across blocks', async () => {
    const c = new HeaderCompressor();
    const d = new HeaderDecompressor();
    const blocks = [];
    for (let i = 0; i < 5; i++)
      blocks.push(await c.compress({ streamtype: 'data', requestid: String(i) }));
    // Later blocks reuse earlier ones' history, so they get shorter.
    expect(blocks[4]!.length).toBeLessThan(blocks[0]!.length);
    for (let i = 0; i < 5; i++) {
      expect(await d.decompress(blocks[i]!)).toEqual({
        streamtype: ['data'],
        requestid: [String(i)],
      });
    }
    c.close();
    d.close();
  });

  it('interoperates with a plain zlib stream primed with the dictionary', async () => {
    const c = new HeaderCompressor();
    const block = await c.compress({ port: '8080' });
    // The stream header names the dictionary by its Adler-32.
    expect(block.readUInt32BE(2)).toBe(0xe3c6a7c2);
    const inflated = zlib.inflateSync(block, {
      dictionary: SPDY3_DICTIONARY,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    expect(decodeHeaderBlock(inflated)).toEqual({ port: ['8080'] });
    c.close();
  });

  it('stops inflating a small block that expands past the limit, without holding the output', async () => {
    // 512 MiB of zeros compresses to about half a MiB: a valid SYN_STREAM length.
    const bomb = zlib.deflateSync(Buffer.alloc(512 * 1024 * 1024), {
      dictionary: SPDY3_DICTIONARY,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const d = new HeaderDecompressor();
    const before = process.memoryUsage().arrayBuffers;
    await expect(d.decompress(bomb)).rejects.toThrow(/header block too large/);
    // Output beyond the limit is dropped as it arrives, not collected and measured afterwards.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
    d.close();
  });

  it('fails on a block that is not zlib data', async () => {
    const d = new HeaderDecompressor();
    await expect(d.decompress(Buffer.from([1, 2, 3, 4]))).rejects.toThrow(SpdyProtocolError);
    d.close();
  });
});
