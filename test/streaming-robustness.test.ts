import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamingServer } from '../plugins/streaming/server.js';
import { SpdyClient, spdyExec, upgrade, WsClient } from './helpers/stream-client.js';
import { LocalRuntime } from './helpers/stream-runtime.js';

// Hostile and careless clients: bad paths, tokens, upgrades and protocols, garbage
// frames and dropped connections. The server must answer or drop the connection,
// keep serving, and leave no process running.

let runtime: LocalRuntime;
let server: StreamingServer;

beforeAll(async () => {
  runtime = new LocalRuntime();
  server = new StreamingServer(runtime, {
    tokenTtlMs: 300,
    drainTimeoutMs: 500,
    streamCreationTimeoutMs: 1_000,
  });
  await server.start();
});

afterAll(async () => {
  await server?.close();
  runtime?.killAll();
});

const spdyHeaders = {
  Connection: 'Upgrade',
  Upgrade: 'SPDY/3.1',
  'X-Stream-Protocol-Version': 'v4.channel.k8s.io',
};
const execUrl = (cmd = ['sleep', '30']) =>
  server.getExec({ containerId: 'c', cmd, tty: false, stdin: true, stdout: true, stderr: true })
    .url;

async function stillServes(): Promise<void> {
  const r = await spdyExec(execUrl(['echo', 'alive']), { stdin: Buffer.alloc(0) });
  expect(r.stdout.toString()).toBe('alive\n');
}

/** The command of the session under test is running (so its cleanup is what gets tested). */
async function commandRunning(): Promise<void> {
  for (let i = 0; i < 100 && runtime.alive().length === 0; i++) await sleep(20);
  expect(runtime.alive().length).toBeGreaterThan(0);
}

async function noneLeft(): Promise<void> {
  for (let i = 0; i < 50 && runtime.alive().length > 0; i++) await sleep(100);
  expect(runtime.alive()).toEqual([]);
}

describe('tokens', () => {
  it('answers 404 for unknown, reused, expired and mismatched tokens', async () => {
    const base = `http://127.0.0.1:${server.address.port}`;
    expect((await upgrade(`${base}/exec/nope`, spdyHeaders)).status).toBe(404);
    expect((await upgrade(`${base}/other/path`, spdyHeaders)).status).toBe(404);

    const url = execUrl(['true']);
    const first = await upgrade(url, spdyHeaders);
    expect(first.status).toBe(101);
    first.socket!.destroy();
    expect((await upgrade(url, spdyHeaders)).status).toBe(404);

    const expiring = execUrl(['true']);
    await sleep(400);
    expect((await upgrade(expiring, spdyHeaders)).status).toBe(404);

    const attach = server.getAttach({
      containerId: 'c',
      stdin: false,
      stdout: true,
      stderr: false,
      tty: false,
    }).url;
    expect((await upgrade(attach.replace('/attach/', '/exec/'), spdyHeaders)).status).toBe(404);
    await stillServes();
  });

  it('refuses bad requests up front', () => {
    const base = { containerId: 'c', tty: false, stdin: false, stdout: false, stderr: false };
    expect(() => server.getExec({ ...base, cmd: ['x'] })).toThrow(/one of stdin/);
    expect(() => server.getExec({ ...base, cmd: [], stdout: true })).toThrow(/missing command/);
    expect(() => server.getAttach({ ...base, tty: true, stdout: true, stderr: true })).toThrow(
      /tty and stderr/,
    );
    expect(() => server.getPortForward({ podSandboxId: 'p', ports: [70000] })).toThrow(
      /invalid port/,
    );
  });
});

describe('upgrades', () => {
  it('403 lists the accepted versions when no protocol matches', async () => {
    const r = await upgrade(execUrl(), { ...spdyHeaders, 'X-Stream-Protocol-Version': 'v9.x' });
    expect(r.status).toBe(403);
    expect(r.headers['x-accepted-stream-protocol-versions']).toContain('v4.channel.k8s.io');
    const pf = server.getPortForward({ podSandboxId: 'p', ports: [] }).url;
    const r2 = await upgrade(pf, spdyHeaders);
    expect(r2.status).toBe(403);
    expect(r2.headers['x-accepted-stream-protocol-versions']).toBe('portforward.k8s.io');
    const ws = await WsClient.connect(execUrl(), ['v9.channel.k8s.io']);
    expect(ws.answer.status).toBe(403);
  });

  it('400 for a plain request, an unknown upgrade or a broken WebSocket handshake', async () => {
    const plain = await fetch(execUrl());
    expect(plain.status).toBe(400);
    expect((await upgrade(execUrl(), { Connection: 'Upgrade', Upgrade: 'h2c' })).status).toBe(400);
    const badWs = await upgrade(
      execUrl(),
      { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' },
      'GET',
    );
    expect(badWs.status).toBe(400);
  });

  it('survives garbage instead of HTTP', async () => {
    const s = net.connect(server.address.port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.write('\x00\x01\x02 not http at all\r\n\r\n');
    await new Promise((r) => s.once('close', r));
    await stillServes();
  });
});

describe('broken sessions', () => {
  it('garbage SPDY frames end the connection and kill the command', async () => {
    const { client } = await SpdyClient.connect(execUrl(), ['v4.channel.k8s.io']);
    // A SYN_STREAM whose header block is not zlib data.
    const bad = Buffer.from([0x80, 3, 0, 1, 0, 0, 0, 14, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    client!.raw(bad);
    await client!.closed;
    await stillServes();
    await noneLeft();
  });

  it('a client that never opens its streams is dropped after the creation timeout', async () => {
    const { client } = await SpdyClient.connect(execUrl(), ['v4.channel.k8s.io']);
    await client!.openStream({ streamtype: 'error' });
    const started = Date.now();
    await client!.closed;
    expect(Date.now() - started).toBeLessThan(3_000);
    await noneLeft();
  });

  it('abrupt disconnects mid-exec leave no process behind (SPDY and WebSocket)', async () => {
    for (let i = 0; i < 5; i++) {
      const { client } = await SpdyClient.connect(execUrl(), ['v4.channel.k8s.io']);
      for (const t of ['error', 'stdin', 'stdout', 'stderr']) {
        await client!.openStream({ streamtype: t });
      }
      await commandRunning();
      client!.destroy();
      await noneLeft();
      const ws = await WsClient.connect(execUrl(), ['v5.channel.k8s.io']);
      await commandRunning();
      ws.client!.destroy();
      await noneLeft();
    }
    await noneLeft();
    await stillServes();
    await noneLeft();
    for (let i = 0; i < 50 && server.activeConnections > 0; i++) await sleep(100);
    expect(server.activeConnections).toBe(0);
  });

  it('closing the server ends live sessions and their processes', async () => {
    const other = new StreamingServer(runtime);
    await other.start();
    const url = other.getExec({
      containerId: 'c',
      cmd: ['sleep', '30'],
      tty: false,
      stdin: false,
      stdout: true,
      stderr: false,
    }).url;
    const running = spdyExec(url, { stderr: false });
    await commandRunning();
    await other.close();
    const r = await running;
    expect(r.errorText).toBe('');
    await noneLeft();
  });
});
