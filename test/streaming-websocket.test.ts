import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamingServer } from '../plugins/streaming/server.js';
import { SpdyClient, WsChannels, WsClient, wsExec } from './helpers/stream-client.js';
import { LocalRuntime } from './helpers/stream-runtime.js';
import { echoServer, httpServer, type Served } from './helpers/stream-targets.js';

// The same exec, attach and port-forward paths over WebSocket channel protocols,
// plus SPDY tunnelled through WebSocket for port-forward.

const MB = 1024 * 1024;
let runtime: LocalRuntime;
let server: StreamingServer;
const targets: Served[] = [];

beforeAll(async () => {
  runtime = new LocalRuntime();
  server = new StreamingServer(runtime, { drainTimeoutMs: 1_000 });
  await server.start();
});

afterAll(async () => {
  await server?.close();
  runtime?.killAll();
  for (const t of targets) await t.close();
});

const exec = (cmd: string[], o: { stdin?: boolean; tty?: boolean } = {}) =>
  server.getExec({
    containerId: 'c1',
    cmd,
    tty: o.tty ?? false,
    stdin: o.stdin ?? false,
    stdout: true,
    stderr: !o.tty,
  }).url;

describe('exec over WebSocket', () => {
  it('v5: stdin closed with the close signal, exit code in the status', async () => {
    const r = await wsExec(exec(['sh', '-c', 'cat; echo err >&2; exit 4'], { stdin: true }), {
      protocols: ['v5.channel.k8s.io'],
      stdin: Buffer.from('piped\n'),
    });
    expect(r.protocol).toBe('v5.channel.k8s.io');
    expect(r.stdout.toString()).toBe('piped\n');
    expect(r.stderr.toString()).toBe('err\n');
    expect(r.exitCode).toBe(4);
    expect(r.closeCode).toBe(1000);
  });

  it('v4 binary and v4 base64 report success', async () => {
    for (const p of ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io']) {
      const r = await wsExec(exec(['sh', '-c', 'printf "\\001\\377bin"']), { protocols: [p] });
      expect(r.protocol).toBe(p);
      expect(r.stdout).toEqual(Buffer.from([1, 255, 0x62, 0x69, 0x6e]));
      expect(r.exitCode).toBe(0);
    }
  });

  it('the unversioned protocol writes a bare message only on failure', async () => {
    const r = await wsExec(exec(['sh', '-c', 'exit 2']), { protocols: ['channel.k8s.io'] });
    expect(r.errorText).toContain('non-zero exit code');
    const ok = await wsExec(exec(['true']), { protocols: ['base64.channel.k8s.io'] });
    expect(ok.errorText).toBe('');
  });

  it('tty with resize on channel 4', async () => {
    const before = runtime.resizes.length;
    const r = await wsExec(exec(['sh', '-c', 'echo t; sleep 0.3'], { tty: true }), {
      protocols: ['v5.channel.k8s.io'],
      tty: true,
      resize: [{ Width: 100, Height: 30 }],
    });
    expect(r.stdout.toString()).toBe('t\n');
    expect(runtime.resizes.slice(before)).toEqual([{ width: 100, height: 30 }]);
  });

  it('moves 64 MiB each way through cat (v5)', async () => {
    const size = 64 * MB;
    const sent = createHash('sha256');
    const got = createHash('sha256');
    let gotBytes = 0;
    const r = await wsExec(exec(['cat'], { stdin: true }), {
      protocols: ['v5.channel.k8s.io'],
      stdin: async (write) => {
        for (let i = 0; i < size / MB; i++) {
          const b = randomBytes(MB);
          sent.update(b);
          await write(b);
        }
      },
      onStdout: (c) => {
        got.update(c);
        gotBytes += c.length;
      },
    });
    expect(r.exitCode).toBe(0);
    expect(gotBytes).toBe(size);
    expect(got.digest('hex')).toBe(sent.digest('hex'));
  });
});

describe('attach over WebSocket', () => {
  it('two clients see the same output', async () => {
    runtime.startContainer('ws-app', ['sh', '-c', 'while read l; do echo "w $l"; done'], {
      stdinOnce: true,
    });
    const url = (stdin: boolean) =>
      server.getAttach({ containerId: 'ws-app', stdin, stdout: true, stderr: true, tty: false })
        .url;
    const watcher = wsExec(url(false), { protocols: ['v4.channel.k8s.io'] });
    await sleep(200);
    const writer = await wsExec(url(true), {
      protocols: ['v5.channel.k8s.io'],
      stdin: Buffer.from('x\ny\n'),
    });
    const watched = await watcher;
    expect(writer.stdout.toString()).toBe('w x\nw y\n');
    expect(watched.stdout.toString()).toBe('w x\nw y\n');
    expect(watched.exitCode).toBe(0);
  });
});

describe('port-forward over WebSocket', () => {
  it('v4 channels: port prefix, several ports at once', async () => {
    const a = await httpServer('alpha');
    const b = await httpServer('beta');
    targets.push(a, b);
    const base = server.getPortForward({ podSandboxId: 'p', ports: [] }).url;
    const { client } = await WsClient.connect(`${base}?port=${a.port}&port=${b.port}`, [
      'v4.channel.k8s.io',
    ]);
    const ch = new WsChannels(client!);
    await sleep(50);
    await ch.send(0, 'GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await ch.send(2, 'GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await client!.closed;
    const prefix = (port: number) => {
      const p = Buffer.alloc(2);
      p.writeUInt16LE(port);
      return p;
    };
    expect(ch.data.get(0)![0]).toEqual(prefix(a.port));
    expect(ch.data.get(1)![0]).toEqual(prefix(a.port));
    expect(ch.data.get(2)![0]).toEqual(prefix(b.port));
    expect(ch.text(0)).toContain('hello from alpha /a');
    expect(ch.text(2)).toContain('hello from beta /b');
  });

  it('echoes 64 MiB each way over v4 base64 channels', async () => {
    const echo = await echoServer();
    targets.push(echo);
    const base = server.getPortForward({ podSandboxId: 'p', ports: [echo.port] }).url;
    const { client } = await WsClient.connect(base, ['v4.base64.channel.k8s.io']);
    const ch = new WsChannels(client!);
    const got = createHash('sha256');
    let bytes = 0;
    let first = true;
    const done = new Promise<void>((resolve) =>
      ch.on(0, (b) => {
        if (first) return void (first = false); // the port prefix
        got.update(b);
        bytes += b.length;
        ch.data.set(0, []);
        if (bytes === 64 * MB) resolve();
      }),
    );
    const sent = createHash('sha256');
    for (let i = 0; i < 64; i++) {
      const chunk = randomBytes(MB);
      sent.update(chunk);
      await ch.send(0, chunk);
    }
    await done;
    expect(got.digest('hex')).toBe(sent.digest('hex'));
    await client!.close();
    await client!.closed;
    expect(ch.violations).toBe(0);
  });

  it('tunnels SPDY/3.1+portforward.k8s.io', async () => {
    const a = await httpServer('tunnel');
    targets.push(a);
    const url = server.getPortForward({ podSandboxId: 'p', ports: [a.port] }).url;
    const { client: ws } = await WsClient.connect(url, ['SPDY/3.1+portforward.k8s.io']);
    expect(ws!.protocol).toBe('SPDY/3.1+portforward.k8s.io');
    // Carry the SPDY client's bytes in binary messages.
    const { PassThrough, Duplex } = await import('node:stream');
    const toServer = new PassThrough();
    const fromServer = new PassThrough();
    toServer.on('data', (c: Buffer) => void ws!.send(c, true));
    ws!.on('message', (m: Buffer) => fromServer.write(m));
    const pipe = Duplex.from({ readable: fromServer, writable: toServer });
    const spdy = new SpdyClient(pipe as never, 'portforward.k8s.io');
    const h = { port: String(a.port), requestid: '0' };
    const error = await spdy.openStream({ ...h, streamtype: 'error' });
    await error.end();
    const data = await spdy.openStream({ ...h, streamtype: 'data' });
    await data.write('GET /t HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await data.done;
    expect(data.text()).toContain('hello from tunnel /t');
    ws!.destroy();
  });
});
