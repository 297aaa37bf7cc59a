import { describe, expect, it } from 'vitest';
import { webSocketAccept } from './connection.js';
import { encodeWsFrame, Opcode, WebSocketProtocolError, WsFrameReader } from './frames.js';

describe('WebSocket frames', () => {
  it('computes the RFC 6455 example accept key', () => {
    expect(webSocketAccept('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it('round-trips masked frames of every length class, split anywhere', () => {
    const mask = Buffer.from([1, 2, 3, 4]);
    const payloads = [
      Buffer.alloc(0),
      Buffer.alloc(125, 7),
      Buffer.alloc(300, 8),
      Buffer.alloc(70_000, 9),
    ];
    const bytes = Buffer.concat(payloads.map((p) => encodeWsFrame(Opcode.Binary, p, true, mask)));
    const reader = new WsFrameReader(1 << 20);
    const frames = [];
    for (let i = 0; i < bytes.length; i += 1000)
      frames.push(...reader.push(bytes.subarray(i, i + 1000)));
    expect(frames.map((f) => f.payload)).toEqual(payloads);
    expect(frames.every((f) => f.masked && f.fin && f.opcode === Opcode.Binary)).toBe(true);
  });

  it('server frames are unmasked with the short length form', () => {
    expect([...encodeWsFrame(Opcode.Text, Buffer.from('hi'))]).toEqual([0x81, 2, 0x68, 0x69]);
  });

  it('refuses oversized frames and reserved bits', () => {
    const big = encodeWsFrame(Opcode.Binary, Buffer.alloc(2000), true, Buffer.alloc(4));
    expect(() => new WsFrameReader(1000).push(big)).toThrow(WebSocketProtocolError);
    const rsv = Buffer.from([0xc1, 0x80, 0, 0, 0, 0]);
    expect(() => new WsFrameReader(1000).push(rsv)).toThrow(/reserved/);
  });
});
