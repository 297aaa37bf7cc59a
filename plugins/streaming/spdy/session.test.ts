import { Duplex, PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  encodeData,
  encodePing,
  encodeSynStream,
  FrameReader,
  RstStatus,
  type SpdyFrame,
} from './frames.js';
import { HeaderCompressor } from './headers.js';
import { SpdySession, type SpdyStream } from './session.js';

/** A session over an in-memory pipe; returns what it writes, parsed. */
function harness() {
  const toServer = new PassThrough();
  const fromServer = new PassThrough();
  const socket = Duplex.from({ readable: toServer, writable: fromServer });
  const session = new SpdySession(socket);
  const reader = new FrameReader();
  const frames: SpdyFrame[] = [];
  fromServer.on('data', (c: Buffer) => frames.push(...reader.push(c)));
  const compressor = new HeaderCompressor();
  const streams: SpdyStream[] = [];
  session.on('stream', (s: SpdyStream) => streams.push(s));
  const tick = () => new Promise((r) => setTimeout(r, 20));
  // Resolves once the session announced the stream (or gave up on the connection).
  const open = async (id: number, headers: Record<string, string>) => {
    const seen = new Promise<void>((resolve) => {
      session.once('stream', () => resolve());
      session.once('close', () => resolve());
    });
    toServer.write(encodeSynStream(id, await compressor.compress(headers)));
    await seen;
    await tick();
  };
  return { session, frames, streams, open, send: (b: Buffer) => toServer.write(b), tick };
}

describe('SpdySession', () => {
  it('replies to each stream, echoes client pings and grants window as data arrives', async () => {
    const h = harness();
    await h.open(1, { streamtype: 'stdin' });
    expect(h.streams[0]!.header('streamtype')).toBe('stdin');
    expect(h.frames[0]).toMatchObject({ type: 'syn_reply', streamId: 1 });
    h.send(encodePing(7));
    h.send(encodeData(1, Buffer.alloc(40_000), false));
    await h.tick();
    expect(h.frames).toContainEqual({ type: 'ping', id: 7 });
    expect(h.frames).toContainEqual({ type: 'window_update', streamId: 1, delta: 40_000 });
    h.session.destroy();
  });

  it('sends data only after the reply and ends with FIN', async () => {
    const h = harness();
    await h.open(1, { streamtype: 'stdout' });
    h.streams[0]!.end('out');
    await h.tick();
    expect(h.frames.map((f) => f.type)).toEqual(['syn_reply', 'data', 'data']);
    expect(h.frames[2]).toMatchObject({ fin: true, data: Buffer.alloc(0) });
    h.session.destroy();
  });

  it('resets data for unknown streams and tears down on a reused stream id', async () => {
    const h = harness();
    h.send(encodeData(9, Buffer.from('x'), false));
    await h.tick();
    expect(h.frames).toContainEqual({
      type: 'rst_stream',
      streamId: 9,
      status: RstStatus.InvalidStream,
    });
    await h.open(3, { streamtype: 'a' });
    await h.open(1, { streamtype: 'b' });
    expect(h.session.isClosed).toBe(true);
    expect(h.frames.at(-1)).toMatchObject({ type: 'goaway', status: 1 });
  });

  it('pauses reading while a stream is not consumed', async () => {
    const h = harness();
    await h.open(1, { streamtype: 'stdin' });
    const s = h.streams[0]!;
    for (let i = 0; i < 10; i++) h.send(encodeData(1, Buffer.alloc(64 * 1024), false));
    await h.tick();
    expect(s.readableLength).toBeGreaterThanOrEqual(256 * 1024);
    let total = 0;
    s.on('data', (c: Buffer) => (total += c.length));
    await h.tick();
    expect(total).toBe(640 * 1024);
    h.session.destroy();
  });
});
