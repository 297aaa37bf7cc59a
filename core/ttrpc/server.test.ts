import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StatusCode, errNotFound, isBerthError } from '../errors/catalogue.js';
import { decodeResponse } from './envelope.js';
import { Flags, MESSAGE_LENGTH_MAX, MessageType, encodeFrame, encodeHeader } from './frame.js';
import { TtrpcServer, type CallContext, type ServiceImplementation } from './server.js';
import { Note, NotesDefinition, RawPeer, encodeNote, tempSocketDir } from './test-service.js';

const SERVICE = NotesDefinition.fullName;

function notes(seen: CallContext[] = []): ServiceImplementation<typeof NotesDefinition> {
  return {
    echo(req, ctx) {
      seen.push(ctx);
      if (req.text === 'missing') throw errNotFound(`note ${JSON.stringify(req.text)}`);
      if (req.text === 'boom') throw new Error('boom');
      return { text: req.text, count: req.count + 1 };
    },
    wait(req, ctx) {
      seen.push(ctx);
      return new Promise((_, reject) => {
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
      });
    },
    async *repeat(req) {
      for (let i = 0; i < req.count; i++) yield { text: req.text, count: i };
      if (req.text === 'fail') throw errNotFound('repeat');
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

let dir: string;
let sock: string;
let server: TtrpcServer;
let peer: RawPeer;
let seen: CallContext[];

beforeEach(async () => {
  dir = tempSocketDir();
  sock = path.join(dir, 'ttrpc.sock');
  seen = [];
  server = new TtrpcServer().register(NotesDefinition, notes(seen));
  await server.listen(sock);
  peer = await RawPeer.connect(sock);
});

afterEach(async () => {
  peer.close();
  await server.close({ timeoutMs: 100 });
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('TtrpcServer unary calls', () => {
  it('answers with status code 0 present and the payload', async () => {
    peer.request(1, {
      service: SERVICE,
      method: 'Echo',
      payload: encodeNote({ text: 'hi', count: 1 }),
    });
    const f = await peer.next();
    expect(f.header).toMatchObject({ streamId: 1, type: MessageType.Response, flags: 0 });
    // Field 1 (status) present and empty, as the Go server writes it.
    expect(f.payload.subarray(0, 2)).toEqual(Buffer.from([0x0a, 0x00]));
    const res = decodeFrom(f.payload);
    expect(res).toEqual({ text: 'hi', count: 2 });
  });

  it('treats an absent payload as the empty message', async () => {
    peer.request(1, { service: SERVICE, method: 'Echo' });
    const res = await peer.response();
    expect(res.status?.code).toBe(0);
    expect(Note.decode(res.payload)).toEqual({ text: '', count: 1 });
  });

  it('maps handler errors through the error catalogue', async () => {
    peer.request(1, { service: SERVICE, method: 'Echo', payload: encodeNote({ text: 'missing' }) });
    peer.request(3, { service: SERVICE, method: 'Echo', payload: encodeNote({ text: 'boom' }) });
    const byId = new Map<number, { code?: number; message?: string }>();
    for (let i = 0; i < 2; i++) {
      const r = await peer.response();
      byId.set(r.id, { code: r.status?.code, message: r.status?.message });
      expect(r.payload.length).toBe(0);
    }
    expect(byId.get(1)).toEqual({
      code: StatusCode.NOT_FOUND,
      message: 'note "missing": not found',
    });
    expect(byId.get(3)).toEqual({ code: StatusCode.UNKNOWN, message: 'boom' });
  });

  it('answers UNIMPLEMENTED for an unknown service or method', async () => {
    peer.request(1, { service: 'no.such.Service', method: 'Echo' });
    peer.request(3, { service: SERVICE, method: 'Nope' });
    expect(await peer.response()).toMatchObject({
      id: 1,
      status: { code: StatusCode.UNIMPLEMENTED, message: 'service no.such.Service' },
    });
    expect(await peer.response()).toMatchObject({
      id: 3,
      status: { code: StatusCode.UNIMPLEMENTED, message: 'method Nope' },
    });
  });

  it('passes metadata with lowercased, grouped keys', async () => {
    peer.request(1, {
      service: SERVICE,
      method: 'Echo',
      metadata: [
        { key: 'Containerd-Namespace', value: 'k8s.io' },
        { key: 'x', value: '1' },
        { key: 'X', value: '2' },
      ],
    });
    await peer.response();
    expect(seen[0]!.metadata).toEqual(
      new Map([
        ['containerd-namespace', ['k8s.io']],
        ['x', ['1', '2']],
      ]),
    );
    expect(seen[0]!.deadline).toBeUndefined();
    expect(seen[0]!.service).toBe(SERVICE);
    expect(seen[0]!.method).toBe('Echo');
  });

  it('turns timeout_nano into a deadline that aborts the handler', async () => {
    const before = Date.now();
    peer.request(1, { service: SERVICE, method: 'Wait', timeoutNano: 50_000_000n });
    const res = await peer.response();
    expect(res.status).toMatchObject({
      code: StatusCode.DEADLINE_EXCEEDED,
      message: 'context deadline exceeded',
    });
    expect(Date.now() - before).toBeGreaterThanOrEqual(45);
    const ctx = seen[0]!;
    expect(ctx.signal.aborted).toBe(true);
    expect(isBerthError(ctx.signal.reason, 'DeadlineExceeded')).toBe(true);
    expect(ctx.deadline).toBeGreaterThanOrEqual(before + 50);
  });

  it('aborts in-flight handlers when the client goes away', async () => {
    peer.request(1, { service: SERVICE, method: 'Wait' });
    await until(() => seen.length === 1);
    peer.close();
    await until(() => seen[0]!.signal.aborted);
    expect(isBerthError(seen[0]!.signal.reason, 'Canceled')).toBe(true);
  });
});

describe('TtrpcServer protocol errors', () => {
  it('rejects even stream ids', async () => {
    peer.request(2, { service: SERVICE, method: 'Echo' });
    expect(await peer.response()).toMatchObject({
      id: 2,
      status: {
        code: StatusCode.INVALID_ARGUMENT,
        message: 'StreamID must be odd for client initiated streams',
      },
    });
  });

  it('rejects reused and decreasing stream ids', async () => {
    peer.request(5, { service: SERVICE, method: 'Echo' });
    expect((await peer.response()).status?.code).toBe(0);
    for (const id of [5, 3]) {
      peer.request(id, { service: SERVICE, method: 'Echo' });
      expect(await peer.response()).toMatchObject({
        id,
        status: {
          code: StatusCode.INVALID_ARGUMENT,
          message: 'StreamID cannot be re-used and must increment',
        },
      });
    }
    peer.request(7, { service: SERVICE, method: 'Echo' });
    expect(await peer.response()).toMatchObject({ id: 7, status: { code: 0 } });
  });

  it('rejects data for a stream it does not know', async () => {
    peer.write(encodeFrame(9, MessageType.Data, 0, encodeNote({ text: 'x' })));
    expect(await peer.response()).toMatchObject({
      id: 9,
      status: { code: StatusCode.INVALID_ARGUMENT, message: 'StreamID is no longer active' },
    });
  });

  it('answers INVALID_ARGUMENT for an undecodable envelope, as Go does', async () => {
    peer.write(encodeFrame(1, MessageType.Request, 0, Buffer.from([0x0a, 0x7f, 0x01])));
    const res = await peer.response();
    expect(res.id).toBe(1);
    expect(res.status?.code).toBe(StatusCode.INVALID_ARGUMENT);
    expect(res.status?.message).toMatch(/^unmarshal request error: /);
  });

  it('answers INTERNAL for an undecodable method payload', async () => {
    peer.request(1, { service: SERVICE, method: 'Echo', payload: new Uint8Array([0x0a, 0x09]) });
    const res = await peer.response();
    expect(res.status?.code).toBe(StatusCode.INTERNAL);
    expect(res.status?.message).toMatch(/^ttrpc: error unmarshalling payload: /);
  });

  it('answers RESOURCE_EXHAUSTED for an oversized frame and keeps the connection', async () => {
    const length = MESSAGE_LENGTH_MAX + 10;
    peer.write(encodeHeader({ length, streamId: 1, type: MessageType.Request, flags: 0 }));
    peer.write(Buffer.alloc(length, 0x0a));
    peer.request(3, { service: SERVICE, method: 'Echo', payload: encodeNote({ text: 'after' }) });
    expect(await peer.response()).toMatchObject({
      id: 1,
      status: {
        code: StatusCode.RESOURCE_EXHAUSTED,
        message: `message length ${length} exceed maximum message size of 4194304`,
      },
    });
    const ok = await peer.response();
    expect(ok.id).toBe(3);
    expect(Note.decode(ok.payload).text).toBe('after');
  });

  it('ignores frame types it does not know', async () => {
    peer.write(encodeFrame(1, 9 as MessageType, 0, Buffer.from('??')));
    peer.request(3, { service: SERVICE, method: 'Echo' });
    expect(await peer.response()).toMatchObject({ id: 3, status: { code: 0 } });
  });
});

describe('TtrpcServer streaming', () => {
  it('server streaming: Data frames, then Data with remote-closed and no-data', async () => {
    peer.request(
      1,
      { service: SERVICE, method: 'Repeat', payload: encodeNote({ text: 'r', count: 3 }) },
      Flags.RemoteClosed,
    );
    const got: Note[] = [];
    for (;;) {
      const f = await peer.next();
      expect(f.header.type).toBe(MessageType.Data);
      if (f.header.flags & Flags.RemoteClosed) {
        expect(f.header.flags).toBe(Flags.RemoteClosed | Flags.NoData);
        expect(f.payload.length).toBe(0);
        break;
      }
      got.push(Note.decode(f.payload));
    }
    // The first message (count 0) encodes to an empty payload yet is still a message.
    expect(got).toEqual([
      { text: 'r', count: 0 },
      { text: 'r', count: 1 },
      { text: 'r', count: 2 },
    ]);
  });

  it('server streaming: an error ends the stream with a Response', async () => {
    peer.request(
      1,
      { service: SERVICE, method: 'Repeat', payload: encodeNote({ text: 'fail', count: 1 }) },
      Flags.RemoteClosed,
    );
    expect((await peer.next()).header.type).toBe(MessageType.Data);
    expect(await peer.response()).toMatchObject({
      id: 1,
      status: { code: StatusCode.NOT_FOUND, message: 'repeat: not found' },
    });
  });

  it('client streaming: Request[RO], Data frames, Data[RC|no-data], then a Response', async () => {
    peer.request(1, { service: SERVICE, method: 'Collect' }, Flags.RemoteOpen);
    for (const text of ['a', 'b', '']) {
      peer.write(encodeFrame(1, MessageType.Data, 0, encodeNote({ text })));
    }
    peer.write(encodeFrame(1, MessageType.Data, Flags.RemoteClosed | Flags.NoData));
    const res = await peer.response();
    expect(res.status?.code).toBe(0);
    expect(Note.decode(res.payload)).toEqual({ text: 'a,b,', count: 3 });
  });

  it('client streaming: a payload in the Request is the first message', async () => {
    peer.request(
      1,
      { service: SERVICE, method: 'Collect', payload: encodeNote({ text: 'first' }) },
      Flags.RemoteOpen,
    );
    peer.write(encodeFrame(1, MessageType.Data, Flags.RemoteClosed | Flags.NoData));
    expect(Note.decode((await peer.response()).payload)).toEqual({ text: 'first', count: 1 });
  });

  it('client streaming: rejects data after close and data in the close frame', async () => {
    peer.request(1, { service: SERVICE, method: 'Collect' }, Flags.RemoteOpen);
    peer.write(encodeFrame(1, MessageType.Data, Flags.RemoteClosed, encodeNote({ text: 'x' })));
    expect(await peer.response()).toMatchObject({
      id: 1,
      status: {
        code: StatusCode.INVALID_ARGUMENT,
        message: 'data close message cannot include data',
      },
    });
    // The stream is gone now.
    peer.write(encodeFrame(1, MessageType.Data, 0, encodeNote({ text: 'y' })));
    expect(await peer.response()).toMatchObject({
      id: 1,
      status: { message: 'StreamID is no longer active' },
    });
  });

  it('bidi streaming: answers each message as it arrives', async () => {
    peer.request(1, { service: SERVICE, method: 'Chat' }, Flags.RemoteOpen);
    peer.write(encodeFrame(1, MessageType.Data, 0, encodeNote({ text: 'one', count: 1 })));
    expect(Note.decode((await peer.next()).payload)).toEqual({ text: 'ONE', count: 1 });
    peer.write(encodeFrame(1, MessageType.Data, 0, encodeNote({ text: 'two', count: 2 })));
    expect(Note.decode((await peer.next()).payload)).toEqual({ text: 'TWO', count: 2 });
    peer.write(encodeFrame(1, MessageType.Data, Flags.RemoteClosed | Flags.NoData));
    const end = await peer.next();
    expect(end.header).toMatchObject({
      type: MessageType.Data,
      flags: Flags.RemoteClosed | Flags.NoData,
    });
  });
});

describe('TtrpcServer lifecycle', () => {
  it('creates the socket with mode 0600', () => {
    expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
  });

  it('replaces a stale socket file but refuses a live one or a regular file', async () => {
    const stale = path.join(dir, 'stale.sock');
    // A socket file nobody listens on: bind, hard-link the node, close (Node unlinks
    // only the path it bound).
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(path.join(dir, 'dead.sock'), r));
    fs.linkSync(path.join(dir, 'dead.sock'), stale);
    await new Promise<void>((r) => dead.close(() => r()));
    expect(fs.lstatSync(stale).isSocket()).toBe(true);

    const other = new TtrpcServer().register(NotesDefinition, notes());
    await other.listen(stale, { mode: 0o660 });
    expect(fs.statSync(stale).mode & 0o777).toBe(0o660);
    const p = await RawPeer.connect(stale);
    p.request(1, { service: SERVICE, method: 'Echo' });
    expect((await p.response()).status?.code).toBe(0);
    p.close();

    await expect(new TtrpcServer().listen(stale)).rejects.toThrow(/in use/);
    await other.close();
    expect(fs.existsSync(stale)).toBe(false);

    const file = path.join(dir, 'file');
    fs.writeFileSync(file, '');
    await expect(new TtrpcServer().listen(file)).rejects.toThrow(/not a socket/);
  });

  it('refuses a second registration of the same service and missing handlers', () => {
    expect(() => server.register(NotesDefinition, notes())).toThrow(/already exists/);
    const partial = { echo: () => ({ text: '', count: 0 }) } as unknown as ServiceImplementation<
      typeof NotesDefinition
    >;
    expect(() => new TtrpcServer().register(NotesDefinition, partial)).toThrow(/no handler/);
  });

  it('serves an already connected socket', async () => {
    const [a, b] = await socketPair(dir);
    server.serveSocket(a);
    const p = new RawPeer(b);
    p.request(1, { service: SERVICE, method: 'Echo', payload: encodeNote({ text: 'pair' }) });
    expect(Note.decode((await p.response()).payload).text).toBe('pair');
    p.close();
  });

  it('close() lets in-flight calls finish, then ends connections', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = new TtrpcServer().register(NotesDefinition, {
      ...notes(),
      async echo(req) {
        await gate;
        return { text: req.text, count: 0 };
      },
    });
    const slowSock = path.join(dir, 'slow.sock');
    await slow.listen(slowSock);
    const p = await RawPeer.connect(slowSock);
    p.request(1, { service: SERVICE, method: 'Echo', payload: encodeNote({ text: 'late' }) });
    await new Promise((r) => setTimeout(r, 20));
    const closing = slow.close({ timeoutMs: 5000 });
    await expect(RawPeer.connect(slowSock)).rejects.toThrow();
    release();
    const res = await p.response();
    expect(Note.decode(res.payload).text).toBe('late');
    await closing;
    await p.closed;
  });

  it('close() aborts calls that outlive the grace period', async () => {
    peer.request(1, { service: SERVICE, method: 'Wait' });
    await until(() => seen.length === 1);
    await server.close({ timeoutMs: 50 });
    expect(isBerthError(seen[0]!.signal.reason, 'Canceled')).toBe(true);
    await peer.closed;
  });
});

function decodeFrom(responseBody: Uint8Array): Note {
  return Note.decode(decodeResponse(responseBody).payload);
}

async function until(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Two connected sockets through a throwaway listener. */
async function socketPair(inDir: string): Promise<[net.Socket, net.Socket]> {
  const p = path.join(inDir, `pair-${process.pid}-${Math.random().toString(36).slice(2)}.sock`);
  const l = net.createServer();
  await new Promise<void>((r) => l.listen(p, r));
  const accepted = new Promise<net.Socket>((r) => l.once('connection', r));
  const client = net.connect(p);
  const a = await accepted;
  await new Promise<void>((r) => (client.connecting ? client.once('connect', r) : r()));
  // The listener's close callback waits for accepted sockets, so do not await it.
  l.close();
  return [a, client];
}
