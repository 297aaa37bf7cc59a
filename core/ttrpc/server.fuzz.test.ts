import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuzz, mutated } from '../../api/fuzz.js';
import { decodeResponse, encodeRequest } from './envelope.js';
import { encodeFrame, MessageType } from './frame.js';
import { TtrpcServer, type ServiceImplementation } from './server.js';
import { Note, NotesDefinition, RawPeer, encodeNote, tempSocketDir } from './test-service.js';

// A live server fed hostile traffic: whatever a connection sends, later calls
// on it (while it stays open) and on new connections are answered.

const SERVICE = NotesDefinition.fullName;
const BARRIER_ID = 0xfffffff1;
/** Generous: a loaded machine may be slow, but a live server always answers. */
const ANSWER_WITHIN_MS = 60_000;

const notes: ServiceImplementation<typeof NotesDefinition> = {
  echo: (req) => ({ text: req.text, count: req.count + 1 }),
  wait: (_req, ctx) =>
    new Promise((_, reject) =>
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }),
    ),
  async *repeat(req) {
    for (let i = 0; i < Math.min(req.count, 5); i++) yield { text: req.text, count: i };
  },
  async collect(reqs) {
    let count = 0;
    for await (const _ of reqs) count++;
    return { text: '', count };
  },
  async *chat(reqs) {
    for await (const r of reqs) yield r;
  },
};

const streamId = fc.integer({ min: 0, max: 64 });
const method = fc.constantFrom('Echo', 'Wait', 'Repeat', 'Collect', 'Chat', 'Nope', '');
const body = fc.oneof(
  fc
    .record({ text: fc.string({ maxLength: 10 }), count: fc.nat({ max: 0xffffffff }) })
    .map(encodeNote),
  fc.uint8Array({ maxLength: 32 }),
);

/** One correctly framed message; its content may be anything. */
const frame = fc.oneof(
  fc
    .record({
      id: streamId,
      service: fc.constantFrom(SERVICE, 'x.Y', ''),
      method,
      payload: fc.option(body, { nil: undefined }),
      timeoutNano: fc.constantFrom(0n, 1n, -1n, 2n ** 62n),
      flags: fc.nat({ max: 7 }),
    })
    .map((r) =>
      encodeFrame(
        r.id,
        MessageType.Request,
        r.flags,
        encodeRequest({ ...r, metadata: [{ key: 'containerd-namespace', value: 'fuzz' }] }),
      ),
    ),
  fc
    .tuple(streamId, fc.nat({ max: 7 }), body)
    .map(([id, flags, p]) => encodeFrame(id, MessageType.Data, flags, p)),
  fc
    .tuple(
      streamId,
      fc.nat({ max: 0xff }),
      mutated(
        fc.constant(
          encodeRequest({ service: SERVICE, method: 'Echo', timeoutNano: 0n, metadata: [] }),
        ),
      ),
    )
    .map(([id, type, p]) => encodeFrame(id, type as MessageType, 0, p)),
);

/** Bytes that break framing; sent last since nothing after them is framed. */
const tail = fc.option(fc.uint8Array({ minLength: 1, maxLength: 64 }), { nil: undefined });

async function echo(peer: RawPeer, id: number): Promise<Note> {
  peer.request(id, {
    service: SERVICE,
    method: 'Echo',
    payload: encodeNote({ text: 'ok', count: 1 }),
  });
  for (;;) {
    const f = await peer.next(ANSWER_WITHIN_MS);
    if (f.header.streamId !== id || f.header.type !== MessageType.Response) continue;
    const res = decodeResponse(f.payload);
    expect(res.status?.code ?? 0).toBe(0);
    return Note.decode(res.payload);
  }
}

describe('TtrpcServer (fuzz)', () => {
  let dir: string;
  let sock: string;
  let server: TtrpcServer;

  beforeAll(async () => {
    dir = tempSocketDir();
    sock = path.join(dir, 'ttrpc.sock');
    server = new TtrpcServer().register(NotesDefinition, notes);
    await server.listen(sock);
  });

  afterAll(async () => {
    await server?.close({ timeoutMs: 100 });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps answering whatever a connection sent before', async () => {
    await fuzz(
      'ttrpc server hostile',
      fc.asyncProperty(fc.array(frame, { maxLength: 10 }), tail, async (frames, junk) => {
        const peer = await RawPeer.connect(sock);
        try {
          for (const f of frames) peer.write(f);
          expect(await echo(peer, BARRIER_ID)).toEqual({ text: 'ok', count: 2 });
          if (junk) peer.write(junk);
        } finally {
          peer.close();
        }
      }),
    );
    const fresh = await RawPeer.connect(sock);
    try {
      expect(await echo(fresh, 1)).toEqual({ text: 'ok', count: 2 });
    } finally {
      fresh.close();
    }
  });
});
