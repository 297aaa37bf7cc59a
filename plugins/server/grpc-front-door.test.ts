import { mkdtemp, rm } from 'node:fs/promises';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GrpcFrontDoor } from './grpc-front-door.js';
import { CLIENT_PREFACE } from './h2-frames.js';

// The front door in front of a plain Node http2 server (the same nghttp2 that
// grpc-js uses), which echoes the :authority it received.

interface Logged {
  level: 'warn' | 'debug';
  msg: string;
  detail: Record<string, unknown>;
}

function fakeLog(into: Logged[]): Logger {
  const at = (level: Logged['level']) => (detail: Record<string, unknown>, msg: string) =>
    into.push({ level, msg, detail });
  return { warn: at('warn'), debug: at('debug') } as unknown as Logger;
}

function echoServer(): http2.Http2Server {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    stream.respond({ ':status': 200, 'x-authority': String(headers[':authority']) });
    stream.end();
  });
  return server;
}

/** One request; resolves with the echoed authority, or the reset code. */
function ask(client: http2.ClientHttp2Session, authority: string): Promise<string> {
  return new Promise((resolve) => {
    const s = client.request({ ':method': 'POST', ':path': '/x', ':authority': authority });
    s.on('response', (h) => resolve(String(h['x-authority'])));
    s.on('close', () => resolve(`reset ${s.rstCode}`));
    s.on('error', () => undefined);
    s.resume();
    s.end();
  });
}

/** Connects, writes `bytes`, and resolves with what came back once the server closed the socket. */
function sendAndWaitClose(sock: string, bytes?: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    const s = net.connect(sock, () => bytes && s.write(bytes));
    s.on('data', (d: Buffer) => got.push(d));
    s.on('error', () => undefined);
    s.on('close', () => resolve(Buffer.concat(got)));
  });
}

const until = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
};

describe('GrpcFrontDoor', () => {
  let dir: string;
  let sock: string;
  let server: http2.Http2Server;
  let door: GrpcFrontDoor;
  let logged: Logged[];
  const clients: http2.ClientHttp2Session[] = [];

  const connect = (target = sock) => {
    const c = http2.connect('http://localhost', { createConnection: () => net.connect(target) });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-front-door-'));
    sock = path.join(dir, 'door.sock');
    server = echoServer();
    logged = [];
    door = new GrpcFrontDoor({
      log: fakeLog(logged),
      inject: (conn) => server.emit('connection', conn),
      pairPath: path.join(dir, 'pairs.sock'),
      prefaceTimeoutMs: 200,
    });
    await door.listen(sock);
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    door.close();
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('gets path authorities past nghttp2, which resets them without the front door', async () => {
    const direct = path.join(dir, 'direct.sock');
    await new Promise<void>((r) => server.listen(direct, r));
    expect(await ask(connect(direct), '/run/berth/berth.sock')).toBe(
      `reset ${http2.constants.NGHTTP2_PROTOCOL_ERROR}`,
    );

    const c = connect();
    const answers: string[] = [];
    // Repeats use the dynamic table entry the first one made.
    for (const a of ['/run/berth/berth.sock', '/run/berth/berth.sock', 'localhost', '/a b']) {
      answers.push(await ask(c, a));
    }
    expect(answers).toEqual([
      '_run_berth_berth.sock',
      '_run_berth_berth.sock',
      'localhost',
      '_a_b',
    ]);
    expect(logged.filter((l) => l.msg.includes('rewrote'))).toHaveLength(1);
  });

  it('closes a connection that does not start with the HTTP/2 preface', async () => {
    const back = await sendAndWaitClose(sock, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(back.length).toBe(0);
    await until(() => door.size === 0);
    expect(logged[0]).toMatchObject({ level: 'warn', msg: expect.stringContaining('preface') });
  });

  it('closes a connection that never sends the preface', async () => {
    await sendAndWaitClose(sock, CLIENT_PREFACE.subarray(0, 10));
    await until(() => door.size === 0);
    expect(logged[0]!.msg).toContain('no HTTP/2 client preface in time');
  });

  it('closes the socket after the server sends GOAWAY for a connection error', async () => {
    const cases = [
      // DATA on stream 0.
      '000001000000000000ff',
      // A header block that does not decode (Node alone leaves this socket open).
      '000000040000000000' + '000001010500000001bf',
    ];
    for (const garbage of cases) {
      logged.length = 0;
      const back = await sendAndWaitClose(
        sock,
        Buffer.concat([CLIENT_PREFACE, Buffer.from(garbage, 'hex')]),
      );
      expect(back.includes(Buffer.from([0x07]))).toBe(true);
      await until(() => door.size === 0);
      const closed = logged.find((l) => l.msg.includes('HTTP/2 connection error'));
      expect(closed!.detail.code).not.toBe('NO_ERROR');
    }
  });

  it('forgets connections the client closes, and close() ends the rest', async () => {
    const c = connect();
    expect(await ask(c, 'localhost')).toBe('localhost');
    expect(door.size).toBe(1);
    c.close();
    await until(() => door.size === 0);
    const d = connect();
    expect(await ask(d, 'localhost')).toBe('localhost');
    const closed = new Promise((r) => d.once('close', r));
    door.close();
    await closed;
    await until(() => door.size === 0);
  });

  it('warns once per interval, counting the rest at debug', async () => {
    for (let i = 0; i < 5; i++) await sendAndWaitClose(sock, Buffer.from('nope'));
    expect(logged.map((l) => l.level)).toEqual(['warn', 'debug', 'debug', 'debug', 'debug']);
  });
});
