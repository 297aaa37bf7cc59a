import { describe, expect, it } from 'vitest';
import { frameHeader, FrameType } from './h2-frames.js';
import { ServerFrames } from './h2-outbound.js';

const frame = (type: number, payload: Buffer) =>
  Buffer.concat([frameHeader(payload.length, type, 0, 0), payload]);

describe('ServerFrames', () => {
  const goaway = Buffer.concat([
    Buffer.from('00000005' + '00000001', 'hex'),
    Buffer.from('bad frame'),
  ]);
  const bytes = Buffer.concat([
    frame(0x4, Buffer.alloc(6)),
    frame(FrameType.DATA, Buffer.alloc(300, 1)),
    frame(FrameType.GOAWAY, goaway),
    frame(FrameType.GOAWAY, Buffer.alloc(8)),
  ]);

  it('finds GOAWAY frames however the bytes are cut', () => {
    for (const size of [1, 5, 9, 17, bytes.length]) {
      const sf = new ServerFrames();
      const found = [];
      for (let at = 0; at < bytes.length; at += size)
        found.push(...sf.push(bytes.subarray(at, at + size)));
      expect(found, `pieces of ${size}`).toEqual([
        { lastStreamId: 5, errorCode: 1, debug: 'bad frame' },
        { lastStreamId: 0, errorCode: 0, debug: '' },
      ]);
    }
  });
});
