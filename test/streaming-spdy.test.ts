import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamingServer } from '../plugins/streaming/server.js';
import { SpdyClient, spdyExec } from './helpers/stream-client.js';
import { LocalRuntime } from './helpers/stream-runtime.js';
import { echoServer, httpServer, type Served } from './helpers/stream-targets.js';

// Exec, attach and port-forward through the streaming server over SPDY/3.1,
// driven by our own client (no flow control, like moby/spdystream).

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

describe('exec over SPDY', () => {
  it('negotiates v4 and reports success with stdout and stderr apart', async () => {
    const r = await spdyExec(exec(['sh', '-c', 'echo out; echo err >&2']));
    expect(r.protocol).toBe('v4.channel.k8s.io');
    expect(r.stdout.toString()).toBe('out\n');
    expect(r.stderr.toString()).toBe('err\n');
    expect(JSON.parse(r.errorText)).toEqual({ metadata: {}, status: 'Success' });
    expect(r.exitCode).toBe(0);
  });

  it('carries a non-zero exit code in the v4 status', async () => {
    const r = await spdyExec(exec(['sh', '-c', 'exit 7']));
    expect(r.exitCode).toBe(7);
    const status = JSON.parse(r.errorText);
    expect(status.reason).toBe('NonZeroExitCode');
    expect(status.details.causes).toEqual([{ reason: 'ExitCode', message: '7' }]);
  });

  it('speaks the older protocols with a bare error message', async () => {
    for (const p of ['v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io']) {
      const r = await spdyExec(exec(['sh', '-c', 'echo hi; exit 3']), { protocols: [p] });
      expect(r.protocol).toBe(p);
      expect(r.stdout.toString()).toBe('hi\n');
      expect(r.errorText).toContain('non-zero exit code');
    }
    const ok = await spdyExec(exec(['true']), { protocols: ['v2.channel.k8s.io'] });
    expect(ok.errorText).toBe('');
  });

  it('pipes stdin and ends it on FIN', async () => {
    const r = await spdyExec(exec(['sh', '-c', 'tr a-z A-Z; echo done'], { stdin: true }), {
      stdin: Buffer.from('hello\nworld\n'),
    });
    expect(r.stdout.toString()).toBe('HELLO\nWORLD\ndone\n');
  });

  it('with a tty merges output and delivers resize events', async () => {
    const before = runtime.resizes.length;
    const r = await spdyExec(exec(['sh', '-c', 'echo a; echo b >&2; sleep 0.3'], { tty: true }), {
      tty: true,
      resize: [
        { Width: 80, Height: 24 },
        { Width: 120, Height: 40 },
      ],
    });
    expect(r.stdout.toString()).toBe('a\nb\n');
    expect(r.exitCode).toBe(0);
    expect(runtime.resizes.slice(before)).toEqual([
      { width: 80, height: 24 },
      { width: 120, height: 40 },
    ]);
  });

  it('ends within the drain bound when a background child keeps stdout open', async () => {
    const started = Date.now();
    const r = await spdyExec(exec(['sh', '-c', 'sleep 30 & echo bye']));
    expect(r.stdout.toString()).toBe('bye\n');
    expect(r.exitCode).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    runtime.killAll(); // the sleep lives on in its group, as it would in a container
  });

  it('moves 64 MiB each way through cat without loss or stall', async () => {
    const size = 64 * MB;
    const sent = createHash('sha256');
    const got = createHash('sha256');
    let gotBytes = 0;
    const r = await spdyExec(exec(['cat'], { stdin: true }), {
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

  it('fails cleanly for a command that cannot start', async () => {
    const r = await spdyExec(exec(['/nonexistent/binary']));
    expect(r.exitCode).toMatchObject({ error: expect.stringContaining('ENOENT') });
    expect(JSON.parse(r.errorText).reason).toBe('InternalError');
  });
});

describe('attach over SPDY', () => {
  it('shares output between two clients; stdin_once closes stdin after the first EOF', async () => {
    runtime.startContainer('app', ['sh', '-c', 'while read l; do echo "got $l"; done; echo eof'], {
      stdinOnce: true,
    });
    const attachUrl = (stdin: boolean) =>
      server.getAttach({ containerId: 'app', stdin, stdout: true, stderr: true, tty: false }).url;
    // Client B only watches.
    const watcher = spdyExec(attachUrl(false));
    await sleep(200);
    const writer = await spdyExec(attachUrl(true), { stdin: Buffer.from('one\ntwo\n') });
    const watched = await watcher;
    expect(writer.stdout.toString()).toBe('got one\ngot two\neof\n');
    expect(watched.stdout.toString()).toBe('got one\ngot two\neof\n');
    expect(writer.exitCode).toBe(0);
    expect(watched.exitCode).toBe(0);
    await runtime.containers.get('app')!.exited;
  });

  it('reports an unknown container on the error stream', async () => {
    const url = server.getAttach({
      containerId: 'missing',
      stdin: false,
      stdout: true,
      stderr: false,
      tty: false,
    }).url;
    const r = await spdyExec(url, { stderr: false });
    expect(r.exitCode).toMatchObject({ error: expect.stringContaining('not found') });
  });
});

describe('port-forward over SPDY', () => {
  it('forwards several ports and concurrent connections', async () => {
    const a = await httpServer('alpha');
    const b = await httpServer('beta');
    targets.push(a, b);
    const url = server.getPortForward({ podSandboxId: 'pod1', ports: [a.port, b.port] }).url;
    const { client } = await SpdyClient.connect(url, ['portforward.k8s.io']);
    expect(client?.protocol).toBe('portforward.k8s.io');
    const one = async (port: number, requestId: number) => {
      const h = { port: String(port), requestid: String(requestId) };
      const error = await client!.openStream({ ...h, streamtype: 'error' });
      await error.end();
      const data = await client!.openStream({ ...h, streamtype: 'data' });
      await data.write(`GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
      await data.done;
      await error.done;
      return { body: data.text(), error: error.text() };
    };
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => one(i % 2 ? b.port : a.port, i)),
    );
    results.forEach((r, i) => {
      expect(r.error).toBe('');
      expect(r.body).toContain(i % 2 ? 'beta' : 'alpha');
    });
    client!.destroy();
  });

  it('reports a refused connection and an unrequested port on the error stream', async () => {
    const closed = await freePort();
    const url = server.getPortForward({ podSandboxId: 'pod1', ports: [closed, 1] }).url;
    const { client } = await SpdyClient.connect(url, ['portforward.k8s.io']);
    const error = await client!.openStream({
      streamtype: 'error',
      port: String(closed),
      requestid: '0',
    });
    await client!.openStream({ streamtype: 'data', port: String(closed), requestid: '0' });
    await error.done;
    expect(error.text()).toContain(`error forwarding port ${closed}`);
    const e2 = await client!.openStream({ streamtype: 'error', port: '2', requestid: '1' });
    await client!.openStream({ streamtype: 'data', port: '2', requestid: '1' });
    await e2.done;
    expect(e2.text()).toContain('not requested');
    client!.destroy();
  });

  it('echoes 64 MiB each way, sha256-checked, with a second connection alongside', async () => {
    const echo = await echoServer();
    targets.push(echo);
    const url = server.getPortForward({ podSandboxId: 'pod1', ports: [echo.port] }).url;
    const { client } = await SpdyClient.connect(url, ['portforward.k8s.io']);
    const transfer = async (requestId: number, size: number) => {
      const h = { port: String(echo.port), requestid: String(requestId) };
      const error = await client!.openStream({ ...h, streamtype: 'error' });
      await error.end();
      const data = await client!.openStream({ ...h, streamtype: 'data' });
      data.collect = false;
      const got = createHash('sha256');
      data.on('data', (c: Buffer) => got.update(c));
      const sent = createHash('sha256');
      for (let i = 0; i < size / MB; i++) {
        const chunk = randomBytes(MB);
        sent.update(chunk);
        await data.write(chunk);
      }
      await data.end();
      await data.done;
      return { sent: sent.digest('hex'), got: got.digest('hex'), bytes: data.received };
    };
    const [big, small] = await Promise.all([transfer(0, 64 * MB), transfer(1, 4 * MB)]);
    expect(big.bytes).toBe(64 * MB);
    expect(big.got).toBe(big.sent);
    expect(small.got).toBe(small.sent);
    client!.destroy();
  });
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
