import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BerthError,
  errFailedPrecondition,
  errNotFound,
  isBerthError,
} from '../errors/catalogue.js';
import { withActiveSpan } from '../tracing/active-span.js';
import { Tracer } from '../tracing/tracer.js';
import { makeClient, TtrpcClient, type TypedClient } from './client.js';
import { decodeRequest, encodeResponse } from './envelope.js';
import {
  Flags,
  FrameReader,
  MESSAGE_LENGTH_MAX,
  MessageType,
  OversizedMessageError,
  encodeFrame,
} from './frame.js';
import { TtrpcServer, type CallContext, type ServiceImplementation } from './server.js';
import { Note, NotesDefinition, encodeNote, tempSocketDir } from './test-service.js';

const SERVICE = NotesDefinition.fullName;

let dir: string;
let sock: string;
let server: TtrpcServer;
let client: TtrpcClient;
let notes: TypedClient<typeof NotesDefinition>;
let seen: CallContext[];
let releaseWaits: () => void;

function impl(): ServiceImplementation<typeof NotesDefinition> {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  releaseWaits = release;
  return {
    echo(req, ctx) {
      seen.push(ctx);
      if (req.text === 'missing') throw errNotFound(`note ${JSON.stringify(req.text)}`);
      if (req.text === 'big') return { text: 'x'.repeat(MESSAGE_LENGTH_MAX), count: 0 };
      return { text: req.text, count: req.count + 1 };
    },
    async wait(req, ctx) {
      seen.push(ctx);
      await new Promise<void>((resolve, reject) => {
        void gate.then(resolve);
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
      });
      return { text: `waited ${req.text}`, count: 0 };
    },
    async *repeat(req) {
      for (let i = 0; i < req.count; i++) yield { text: req.text, count: i };
      if (req.text === 'fail') throw errFailedPrecondition('repeat');
    },
    async collect(reqs) {
      const texts: string[] = [];
      for await (const r of reqs) texts.push(r.text);
      return { text: texts.join(','), count: texts.length };
    },
    async *chat(reqs) {
      for await (const r of reqs) yield { text: r.text.toUpperCase(), count: r.count };
    },
  };
}

beforeEach(async () => {
  dir = tempSocketDir();
  sock = path.join(dir, 'ttrpc.sock');
  seen = [];
  server = new TtrpcServer().register(NotesDefinition, impl());
  await server.listen(sock);
  client = await TtrpcClient.connect(`unix://${sock}`, { timeoutMs: 1000 });
  notes = makeClient(NotesDefinition, client);
});

afterEach(async () => {
  client.close();
  releaseWaits();
  await server.close({ timeoutMs: 100 });
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('TtrpcClient unary calls', () => {
  it('calls through the typed client', async () => {
    expect(await notes.echo({ text: 'hello', count: 41 })).toEqual({ text: 'hello', count: 42 });
  });

  it('calls with raw bytes', async () => {
    const bytes = await client.call(SERVICE, 'Echo', encodeNote({ text: 'raw' }));
    expect(Note.decode(bytes)).toEqual({ text: 'raw', count: 1 });
  });

  it('rejects with the BerthError rebuilt from the status', async () => {
    const err = await notes.echo({ text: 'missing', count: 0 }).catch((e: unknown) => e);
    expect(isBerthError(err, 'NotFound')).toBe(true);
    expect((err as Error).message).toBe('note "missing": not found');
    const unimpl = await client.call(SERVICE, 'Nope', new Uint8Array()).catch((e: unknown) => e);
    expect(isBerthError(unimpl, 'NotImplemented')).toBe(true);
    expect((unimpl as Error).message).toBe('method Nope');
  });

  it('sends metadata and a deadline', async () => {
    const before = Date.now();
    await notes.echo(
      { text: 'md', count: 0 },
      { metadata: { 'Containerd-Namespace': 'default', x: ['1', '2'] }, timeoutMs: 60_000 },
    );
    expect(seen[0]!.metadata).toEqual(
      new Map([
        ['containerd-namespace', ['default']],
        ['x', ['1', '2']],
      ]),
    );
    expect(seen[0]!.deadline).toBeGreaterThanOrEqual(before + 59_000);
  });

  it('carries the active span as traceparent/tracestate, unless the caller set its own', async () => {
    const span = new Tracer({ export: () => {} }).startSpan('daemon call', {
      parent: { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), sampled: true, traceState: 'k=v' },
    });
    await notes.echo({ text: 'plain', count: 0 });
    await withActiveSpan(span, async () => {
      await notes.echo({ text: 'traced', count: 0 });
      await notes.echo({ text: 'own', count: 0 }, { metadata: { traceparent: 'mine' } });
    });
    expect(seen[0]!.metadata.get('traceparent')).toBeUndefined();
    expect(seen[1]!.metadata.get('traceparent')).toEqual([
      `00-${'a'.repeat(32)}-${span.context.spanId}-01`,
    ]);
    expect(seen[1]!.metadata.get('tracestate')).toEqual(['k=v']);
    expect(seen[2]!.metadata.get('traceparent')).toEqual(['mine']);
  });

  it('times out locally and the handler sees the abort', async () => {
    const err = await notes.wait({ text: 't', count: 0 }, { timeoutMs: 50 }).catch((e) => e);
    expect(isBerthError(err, 'DeadlineExceeded')).toBe(true);
    await until(() => seen[0]?.signal.aborted === true);
    expect(isBerthError(seen[0]!.signal.reason, 'DeadlineExceeded')).toBe(true);
    // The connection is still usable.
    expect((await notes.echo({ text: 'ok', count: 0 })).text).toBe('ok');
  });

  it('cancels on an abort signal', async () => {
    const ac = new AbortController();
    const p = notes.wait({ text: 'c', count: 0 }, { signal: ac.signal });
    ac.abort();
    expect(isBerthError(await p.catch((e) => e), 'Canceled')).toBe(true);
    const pre = await notes.echo({ text: 'x', count: 0 }, { signal: ac.signal }).catch((e) => e);
    expect(isBerthError(pre, 'Canceled')).toBe(true);
  });

  it('keeps 100 fast calls moving while a slow one blocks', async () => {
    const slow = notes.wait({ text: 'slow', count: 0 });
    let slowDone = false;
    void slow.then(() => (slowDone = true));
    const fast = await Promise.all(
      Array.from({ length: 100 }, (_, i) => notes.echo({ text: `n${i}`, count: i })),
    );
    expect(fast.map((r) => r.count)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(fast[57]!.text).toBe('n57');
    expect(slowDone).toBe(false);
    releaseWaits();
    expect(await slow).toEqual({ text: 'waited slow', count: 0 });
  });

  it('refuses an oversized request locally and stays usable', async () => {
    const err = await notes
      .echo({ text: 'x'.repeat(MESSAGE_LENGTH_MAX), count: 0 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OversizedMessageError);
    expect(isBerthError(err, 'ResourceExhausted')).toBe(true);
    expect((await notes.echo({ text: 'after', count: 0 })).text).toBe('after');
  });

  it('gets RESOURCE_EXHAUSTED when the response would be oversized', async () => {
    const err = await notes.echo({ text: 'big', count: 0 }).catch((e: unknown) => e);
    expect(isBerthError(err, 'ResourceExhausted')).toBe(true);
    expect((err as Error).message).toMatch(/exceed maximum message size of 4194304/);
    expect((await notes.echo({ text: 'after', count: 0 })).text).toBe('after');
  });
});

describe('TtrpcClient streaming', () => {
  it('server streaming yields every message then ends', async () => {
    const got: Note[] = [];
    for await (const n of notes.repeat({ text: 'r', count: 4 })) got.push(n);
    expect(got.map((n) => n.count)).toEqual([0, 1, 2, 3]);
  });

  it('server streaming surfaces the final error after the messages', async () => {
    const got: Note[] = [];
    const err = await (async () => {
      for await (const n of notes.repeat({ text: 'fail', count: 2 })) got.push(n);
    })().catch((e: unknown) => e);
    expect(got).toHaveLength(2);
    expect(isBerthError(err, 'FailedPrecondition')).toBe(true);
  });

  it('server streaming can be abandoned early', async () => {
    for await (const n of notes.repeat({ text: 'r', count: 1000 })) {
      if (n.count === 2) break;
    }
    expect((await notes.echo({ text: 'still', count: 0 })).text).toBe('still');
  });

  it('client streaming sends every message and gets one response', async () => {
    async function* gen() {
      yield { text: 'a', count: 0 };
      yield { text: 'b', count: 0 };
      yield { text: 'c', count: 0 };
    }
    expect(await notes.collect(gen())).toEqual({ text: 'a,b,c', count: 3 });
    expect(await notes.collect([])).toEqual({ text: '', count: 0 });
  });

  it('bidi streaming echoes each message', async () => {
    const out: string[] = [];
    for await (const n of notes.chat([
      { text: 'x', count: 1 },
      { text: 'y', count: 2 },
    ])) {
      out.push(n.text);
    }
    expect(out).toEqual(['X', 'Y']);
  });

  it('interleaves a bidi exchange with the low-level stream API', async () => {
    const s = client.stream(SERVICE, 'Chat', { clientStreaming: true, serverStreaming: true });
    const it = s.messages[Symbol.asyncIterator]();
    s.send(encodeNote({ text: 'ping' }));
    expect(Note.decode((await it.next()).value).text).toBe('PING');
    s.send(encodeNote({ text: 'pong' }));
    expect(Note.decode((await it.next()).value).text).toBe('PONG');
    s.closeSend();
    expect((await it.next()).done).toBe(true);
    expect(s.done).toBe(true);
    expect(() => s.send(encodeNote({}))).toThrow(/closed for sending/);
  });
});

describe('TtrpcClient connection loss', () => {
  it('fails pending calls with Unavailable and fires onClose when the server dies', async () => {
    const raw = await rawServer(dir);
    const closes: (Error | undefined)[] = [];
    const c = await TtrpcClient.connect(raw.path, { onClose: (e) => closes.push(e) });
    const second = new Promise<void>((r) => c.onClose(() => r()));
    const pending = [
      c.call(SERVICE, 'Wait', new Uint8Array()),
      c.call(SERVICE, 'Wait', new Uint8Array()),
    ];
    const peer = await raw.accepted;
    await raw.requests(2);
    peer.destroy();
    for (const p of pending) {
      const err = await p.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BerthError);
      expect(err).toMatchObject({ code: 'Unavailable', message: 'ttrpc: closed' });
    }
    await second;
    expect(closes).toHaveLength(1);
    expect(c.closed).toBe(true);
    await expect(c.call(SERVICE, 'Echo', new Uint8Array())).rejects.toMatchObject({
      code: 'Unavailable',
    });
    raw.close();
  });

  it('fails pending calls when a real server shuts down', async () => {
    let closed = false;
    client.onClose(() => (closed = true));
    const pending = notes.wait({ text: 'forever', count: 0 }).catch((e: unknown) => e);
    await until(() => seen.length === 1);
    await server.close({ timeoutMs: 20 });
    const err = await pending;
    // The server drops the connection without answering calls it aborted.
    expect(err).toMatchObject({ code: 'Unavailable', message: 'ttrpc: closed' });
    await until(() => closed);
  });

  it('drops frames for unknown streams and uses odd increasing ids', async () => {
    const raw = await rawServer(dir);
    const c = await TtrpcClient.connect(raw.path);
    const a = c.call(SERVICE, 'Echo', encodeNote({ text: 'a' }));
    const b = c.call(SERVICE, 'Echo', encodeNote({ text: 'b' }));
    const peer = await raw.accepted;
    const reqs = await raw.requests(2);
    expect(reqs.map((r) => [r.id, r.flags, r.method])).toEqual([
      [1, 0, 'Echo'],
      [3, 0, 'Echo'],
    ]);
    const ok = (payload: Uint8Array) =>
      encodeResponse({ status: { code: 0, message: '', details: [] }, payload });
    peer.write(encodeFrame(99, MessageType.Response, 0, ok(encodeNote({ text: 'stray' }))));
    peer.write(encodeFrame(3, MessageType.Data, 0, encodeNote({ text: 'data on unary' })));
    peer.write(encodeFrame(3, MessageType.Response, 0, ok(encodeNote({ text: 'B' }))));
    // A response without a status field is success too.
    peer.write(
      encodeFrame(
        1,
        MessageType.Response,
        0,
        encodeResponse({ payload: encodeNote({ text: 'A' }) }),
      ),
    );
    expect(Note.decode(await a).text).toBe('A');
    expect(Note.decode(await b).text).toBe('B');
    c.close();
    raw.close();
  });

  it('sends Request flags for streaming calls', async () => {
    const raw = await rawServer(dir);
    const c = await TtrpcClient.connect(raw.path);
    c.stream(SERVICE, 'Repeat', {
      clientStreaming: false,
      serverStreaming: true,
      payload: encodeNote({ count: 1 }),
    });
    const cs = c.stream(SERVICE, 'Collect', { clientStreaming: true, serverStreaming: false });
    cs.send(encodeNote({ text: 'm' }));
    cs.closeSend();
    await raw.accepted;
    const frames = await raw.frames(4);
    expect(frames.map((f) => [f.id, f.type, f.flags])).toEqual([
      [1, MessageType.Request, Flags.RemoteClosed],
      [3, MessageType.Request, Flags.RemoteOpen],
      [3, MessageType.Data, 0],
      [3, MessageType.Data, Flags.RemoteClosed | Flags.NoData],
    ]);
    expect(decodeRequest(frames[1]!.payload).payload).toBeUndefined();
    c.close();
    raw.close();
  });

  it('fails to connect with Unavailable', async () => {
    const err = await TtrpcClient.connect(path.join(dir, 'nothing.sock')).catch((e) => e);
    expect(isBerthError(err, 'Unavailable')).toBe(true);
  });
});

async function until(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface RawFrame {
  id: number;
  type: number;
  flags: number;
  payload: Buffer;
}

/** A listener that records the client's frames and lets the test answer by hand. */
async function rawServer(inDir: string) {
  const p = path.join(inDir, `raw-${Math.random().toString(36).slice(2)}.sock`);
  const received: RawFrame[] = [];
  const waiters: (() => void)[] = [];
  let conn: net.Socket | undefined;
  const l = net.createServer((s) => {
    conn = s;
    const reader = new FrameReader();
    s.on('error', () => {});
    s.on('data', (chunk: Buffer) => {
      for (const ev of reader.push(chunk)) {
        if (ev.kind !== 'frame') continue;
        received.push({ id: ev.header.streamId, ...ev.header, payload: ev.payload });
        for (const w of waiters.splice(0)) w();
      }
    });
  });
  await new Promise<void>((r) => l.listen(p, r));
  const accepted = new Promise<net.Socket>((r) => l.once('connection', r));
  const frames = async (n: number) => {
    while (received.length < n) await new Promise<void>((r) => waiters.push(r));
    return received.slice(0, n);
  };
  return {
    path: p,
    accepted,
    frames,
    requests: async (n: number) =>
      (await frames(n)).map((f) => ({ id: f.id, flags: f.flags, ...decodeRequest(f.payload) })),
    close: () => {
      conn?.destroy();
      l.close();
    },
  };
}
