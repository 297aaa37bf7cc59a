import { Duplex, PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunked, cuts, expectClearError, fuzz, hostileBytes, thrown } from '../../../api/fuzz.js';
import { WebSocketConnection } from './connection.js';
import {
  encodeWsFrame,
  Opcode,
  WebSocketProtocolError,
  WsFrameReader,
  type WsFrame,
} from './frames.js';

const MAX_FRAME = 1024;
const mask = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => Buffer.from(b));
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  // Lengths that take the 16-bit form.
  fc.integer({ min: 126, max: MAX_FRAME }).map((n) => new Uint8Array(n).fill(n & 0xff)),
);

const frame = fc.record({
  fin: fc.boolean(),
  opcode: fc.nat({ max: 15 }),
  mask: fc.option(mask, { nil: undefined }),
  payload: payload.map((p) => Buffer.from(p)),
});

const encode = (f: { fin: boolean; opcode: number; mask?: Buffer; payload: Buffer }) =>
  encodeWsFrame(f.opcode, f.payload, f.fin, f.mask);

/** Headers announcing lengths past the limit, in the 16- and 64-bit forms. */
const hostileHeader = fc
  .tuple(fc.constantFrom(126, 127), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.boolean())
  .map(([form, len, masked]) => {
    const b = Buffer.alloc(form === 126 ? 4 : 10);
    b[0] = 0x82;
    b[1] = (masked ? 0x80 : 0) | form;
    if (form === 126) b.writeUInt16BE(Number(len & 0xffffn), 2);
    else b.writeBigUInt64BE(len, 2);
    return b;
  });

function read(chunks: Buffer[]): { frames: WsFrame[]; error?: unknown } {
  const r = new WsFrameReader(MAX_FRAME);
  const out: WsFrame[] = [];
  for (const c of chunks) {
    let got: WsFrame[] = [];
    const error = thrown(() => (got = r.push(c)));
    if (error !== undefined) return { frames: out, error };
    out.push(...got);
  }
  return { frames: out };
}

/** A connection fed `chunks`; returns its messages and the close codes it chose itself. */
async function converse(chunks: Buffer[]) {
  const toServer = new PassThrough();
  const fromServer = new PassThrough();
  fromServer.resume();
  const ws = new WebSocketConnection(Duplex.from({ readable: toServer, writable: fromServer }));
  const messages: Buffer[] = [];
  ws.on('message', (m: Buffer) => messages.push(m));
  // close() is how the connection refuses input; an echoed peer close does not pass here.
  const codes: number[] = [];
  const close = ws.close.bind(ws);
  ws.close = (code, reason) => {
    codes.push(code ?? 1000);
    close(code, reason);
  };
  const closed = new Promise<void>((resolve) => ws.once('close', resolve));
  for (const c of chunks) ws.feed(c);
  ws.destroy();
  await closed;
  return { messages, codes };
}

describe('WebSocket frames (fuzz)', () => {
  it('reads what encodeWsFrame wrote, unmasked, however the bytes are split', async () => {
    await fuzz(
      'websocket frames round trip',
      fc.property(fc.array(frame, { maxLength: 5 }), cuts, (fs, cs) => {
        const { frames, error } = read(chunked(Buffer.concat(fs.map(encode)), cs));
        expect(error).toBeUndefined();
        expect(frames).toEqual(
          fs.map((f) => ({ fin: f.fin, opcode: f.opcode, masked: !!f.mask, payload: f.payload })),
        );
      }),
    );
  });

  it('refuses hostile bytes only with WebSocketProtocolError, never buffering past the limit', async () => {
    const valid = fc.array(frame, { maxLength: 4 }).map((fs) => Buffer.concat(fs.map(encode)));
    const input = fc.oneof(
      hostileBytes(valid),
      fc
        .tuple(hostileHeader, fc.uint8Array({ maxLength: 64 }))
        .map(([h, r]) => Buffer.concat([h, r])),
    );
    await fuzz(
      'websocket frames hostile',
      fc.property(input, cuts, (bytes, cs) => {
        const whole = read([bytes]);
        const split = read(chunked(bytes, cs));
        for (const { error } of [whole, split]) {
          if (error !== undefined) expectClearError(error, WebSocketProtocolError);
        }
        expect(split.error === undefined).toBe(whole.error === undefined);
        if (whole.error === undefined) expect(split.frames).toEqual(whole.frames);
        for (const f of split.frames) expect(f.payload.length).toBeLessThanOrEqual(MAX_FRAME);
      }),
    );
  });

  it('reassembles fragmented messages around control frames', async () => {
    const message = fc.record({
      binary: fc.boolean(),
      parts: fc.array(fc.uint8Array({ maxLength: 100 }), { minLength: 1, maxLength: 4 }),
      pings: fc.array(fc.boolean(), { maxLength: 4 }),
    });
    await fuzz(
      'websocket messages round trip',
      fc.asyncProperty(fc.array(message, { maxLength: 4 }), mask, cuts, async (ms, m, cs) => {
        const bytes = Buffer.concat(
          ms.flatMap((msg) =>
            msg.parts.flatMap((p, i) => {
              const opcode = i > 0 ? Opcode.Continuation : msg.binary ? Opcode.Binary : Opcode.Text;
              const data = encodeWsFrame(opcode, Buffer.from(p), i === msg.parts.length - 1, m);
              return msg.pings[i]
                ? [encodeWsFrame(Opcode.Ping, Buffer.from('p'), true, m), data]
                : [data];
            }),
          ),
        );
        const { messages, codes } = await converse(chunked(bytes, cs));
        expect(messages).toEqual(ms.map((msg) => Buffer.concat(msg.parts)));
        expect(codes).toEqual([]);
      }),
    );
  });

  it('closes on hostile traffic with a protocol close code, never an internal error', async () => {
    const valid = fc.array(frame, { maxLength: 4 }).map((fs) => Buffer.concat(fs.map(encode)));
    await fuzz(
      'websocket connection hostile',
      fc.asyncProperty(hostileBytes(valid), cuts, async (bytes, cs) => {
        const { codes } = await converse(chunked(bytes, cs));
        // 1011 would mean something other than a WebSocketProtocolError was thrown.
        for (const code of codes) expect([1002, 1009]).toContain(code);
      }),
    );
  });
});
