// CRI Exec, Attach and PortForward end to end: a real berthd with pods on a CNI
// bridge, driven over SPDY/3.1 and WebSocket by the test client with its own
// framing (test/helpers/stream-client.ts).

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CriEnv, podConfig, startCriEnv, waitFor } from './helpers/cri.js';
import {
  SpdyClient,
  type SpdyClientStream,
  spdyExec,
  upgrade,
  wsExec,
} from './helpers/stream-client.js';

const isRoot = process.getuid?.() === 0;
const haveCni = existsSync('/usr/lib/cni/bridge');
const MB = 1024 * 1024;
const BIG = 64 * MB;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Host processes whose command line contains every one of `words` (container processes included). */
function hostProcesses(...words: string[]): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.[0];
      if (state !== 'Z' && words.every((w) => cmdline.includes(w))) out.push(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

describe.skipIf(!isRoot || !haveCni)('CRI streaming: exec, attach, port-forward', () => {
  let env: CriEnv;
  let podId: string;
  let logDir: string;
  /** Long-running exec target. */
  let shell: string;

  const rt = () => env.cri.runtime;

  async function runContainer(name: string, config: Record<string, unknown>): Promise<string> {
    const { containerId } = await rt().createContainer({
      podSandboxId: podId,
      config: {
        metadata: { name },
        image: { image: 'busybox' },
        logPath: `${name}.log`,
        ...config,
      },
      sandboxConfig: podConfig('streaming', logDir),
    });
    await rt().startContainer({ containerId });
    return containerId;
  }

  async function execUrl(cmd: string[], opts: Record<string, unknown> = {}): Promise<string> {
    const r = await rt().exec({
      containerId: shell,
      cmd,
      stdout: true,
      stderr: !opts.tty,
      ...opts,
    });
    return r.url;
  }

  beforeAll(async () => {
    env = await startCriEnv();
    logDir = path.join(env.work, 'logs', 'streaming');
    ({ podSandboxId: podId } = await rt().runPodSandbox({
      config: podConfig('streaming', logDir),
    }));
    shell = await runContainer('shell', { command: ['/bin/busybox', 'sleep', '100000'] });
  }, 120_000);

  afterAll(async () => {
    await env?.dispose();
  }, 60_000);

  describe('Exec', () => {
    it('validates its target: unknown container, stopped container, bad request', async () => {
      await expect(
        rt().exec({ containerId: 'nope', cmd: ['true'], stdout: true }),
      ).rejects.toMatchObject({ code: grpcStatus.NOT_FOUND });
      await expect(rt().exec({ containerId: shell, cmd: [], stdout: true })).rejects.toMatchObject({
        code: grpcStatus.INVALID_ARGUMENT,
      });
      await expect(
        rt().exec({ containerId: shell, cmd: ['true'], tty: true, stdout: true, stderr: true }),
      ).rejects.toMatchObject({ code: grpcStatus.INVALID_ARGUMENT });
      const done = await runContainer('done', { command: ['/bin/busybox', 'true'] });
      await waitFor(
        () => rt().containerStatus({ containerId: done }),
        (s) => s.status?.state === 2, // EXITED
      );
      await expect(
        rt().exec({ containerId: done, cmd: ['true'], stdout: true }),
      ).rejects.toMatchObject({ code: grpcStatus.FAILED_PRECONDITION });
      await expect(rt().attach({ containerId: done, stdout: true })).rejects.toMatchObject({
        code: grpcStatus.FAILED_PRECONDITION,
      });
      await expect(rt().portForward({ podSandboxId: 'nope', port: [80] })).rejects.toMatchObject({
        code: grpcStatus.NOT_FOUND,
      });
    });

    it('runs without a TTY over SPDY: stdout, stderr and the exit code', async () => {
      const url = await execUrl(['/bin/sh', '-c', 'echo out; echo err >&2; exit 3']);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/exec\//);
      const r = await spdyExec(url, { protocols: ['v4.channel.k8s.io'] });
      expect(r.protocol).toBe('v4.channel.k8s.io');
      expect(r.stdout.toString()).toBe('out\n');
      expect(r.stderr.toString()).toBe('err\n');
      expect(r.exitCode).toBe(3);
      const ok = await spdyExec(await execUrl(['/bin/busybox', 'true']));
      expect(ok.exitCode).toBe(0);
    });

    it('runs over WebSocket v5 with stdin piped and closed', async () => {
      const url = await execUrl(['/bin/busybox', 'cat'], { stdin: true });
      const r = await wsExec(url, {
        protocols: ['v5.channel.k8s.io'],
        stdin: Buffer.from('hello through the pipe\n'),
      });
      expect(r.protocol).toBe('v5.channel.k8s.io');
      expect(r.stdout.toString()).toBe('hello through the pipe\n');
      expect(r.exitCode).toBe(0);
    });

    it('runs with a TTY: one output stream, terminal size from resize events', async () => {
      const url = await execUrl(
        ['/bin/sh', '-c', 'sleep 1; /bin/busybox stty size; test -t 0 && echo is-a-tty; exit 5'],
        { tty: true, stdin: true },
      );
      const r = await spdyExec(url, {
        tty: true,
        resize: [{ Width: 123, Height: 45 }],
        stdin: async () => {
          await sleep(1500);
        },
      });
      const text = r.stdout.toString();
      expect(text).toContain('45 123');
      expect(text).toContain('is-a-tty');
      expect(r.stderr.length).toBe(0);
      expect(r.exitCode).toBe(5);
    });

    it('ends when the command exits although a background child keeps stdout open', async () => {
      const started = Date.now();
      const r = await spdyExec(
        await execUrl(['/bin/sh', '-c', '/bin/busybox sleep 37 & echo parent-done']),
      );
      expect(r.stdout.toString()).toContain('parent-done');
      expect(r.exitCode).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
      // The background child belongs to the container; stop it so nothing is left.
      await rt().execSync({ containerId: shell, cmd: ['/bin/busybox', 'pkill', '-f', 'sleep 37'] });
    });

    it('reports a command that cannot start as an error, not an exit code', async () => {
      const r = await spdyExec(await execUrl(['/no/such/binary']));
      expect(typeof r.exitCode === 'object' || r.exitCode !== 0).toBe(true);
    });

    it(`copies ${BIG / MB} MiB each way through cat, sha256-checked`, async () => {
      const url = await execUrl(['/bin/busybox', 'cat'], { stdin: true });
      const sent = createHash('sha256');
      const got = createHash('sha256');
      let bytes = 0;
      const r = await spdyExec(url, {
        stdin: async (write) => {
          for (let i = 0; i < BIG / MB; i++) {
            const chunk = randomBytes(MB);
            sent.update(chunk);
            await write(chunk);
          }
        },
        onStdout: (c) => {
          bytes += c.length;
          got.update(c);
        },
      });
      expect(r.exitCode).toBe(0);
      expect(bytes).toBe(BIG);
      expect(got.digest('hex')).toBe(sent.digest('hex'));
    }, 120_000);

    it('kills the process when the client disconnects abruptly', async () => {
      const url = await execUrl(['/bin/busybox', 'sleep', '4242'], { stdin: true });
      const { client } = await SpdyClient.connect(url, ['v4.channel.k8s.io']);
      await client!.openStream({ streamtype: 'error' });
      await client!.openStream({ streamtype: 'stdin' });
      await client!.openStream({ streamtype: 'stdout' });
      await client!.openStream({ streamtype: 'stderr' });
      const running = await waitFor(
        async () => hostProcesses('sleep', '4242'),
        (p) => p.length > 0,
      );
      expect(running.length).toBe(1);
      client!.destroy();
      const left = await waitFor(
        async () => hostProcesses('sleep', '4242'),
        (p) => p.length === 0,
      );
      expect(left).toEqual([]);
    });

    it('refuses wrong and reused tokens with 404 and starts nothing', async () => {
      const url = await execUrl(['/bin/busybox', 'sleep', '4343']);
      const headers = {
        Connection: 'Upgrade',
        Upgrade: 'SPDY/3.1',
        'X-Stream-Protocol-Version': 'v4.channel.k8s.io',
      };
      const wrong = url.replace(/\/exec\/.*/, '/exec/AAAAAAAAAAAAAAAA');
      expect((await upgrade(wrong, headers)).status).toBe(404);
      // A token is burned by a request on the wrong route, like any other use.
      const other = await execUrl(['/bin/busybox', 'sleep', '4343']);
      expect((await upgrade(other.replace('/exec/', '/attach/'), headers)).status).toBe(404);
      expect((await upgrade(other, headers)).status).toBe(404);
      const first = await upgrade(url, headers);
      expect(first.status).toBe(101);
      first.socket!.destroy(); // gone before opening any stream
      expect((await upgrade(url, headers)).status).toBe(404);
      await sleep(500);
      expect(hostProcesses('sleep', '4343')).toEqual([]);
    });
  });

  describe('Attach', () => {
    it('serves two clients; stdin_once closes the container stdin; the log keeps being written', async () => {
      const id = await runContainer('attached', {
        command: [
          '/bin/sh',
          '-c',
          'while read line; do echo "got:$line"; echo "err:$line" >&2; done; echo bye',
        ],
        stdin: true,
        stdinOnce: true,
      });
      const url = async (stdin: boolean) =>
        (await rt().attach({ containerId: id, stdin, stdout: true, stderr: true })).url;
      // B only watches; A pings until B sees the echo, so both are attached before "hello".
      let bOut = '';
      const b = spdyExec(await url(false), { onStdout: (c) => (bOut += c.toString()) });
      const a = await spdyExec(await url(true), {
        stdin: async (write) => {
          while (!bOut.includes('got:ping')) {
            await write(Buffer.from('ping\n'));
            await sleep(100);
          }
          await write(Buffer.from('hello\n'));
        },
      });
      const bRes = await b;
      expect(a.stdout.toString()).toContain('got:hello\n');
      expect(a.stdout.toString()).toContain('bye\n');
      expect(a.stderr.toString()).toContain('err:hello\n');
      expect(a.exitCode).toBe(0);
      expect(bOut).toContain('got:hello\nbye\n');
      expect(bRes.stderr.toString()).toContain('err:hello\n');
      const st = await waitFor(
        () => rt().containerStatus({ containerId: id }),
        (s) => s.status?.state === 2,
      );
      expect(st.status?.exitCode).toBe(0);
      const log = await fs.readFile(path.join(logDir, 'attached.log'), 'utf8');
      expect(log).toMatch(/ stdout F got:hello\n/);
      expect(log).toMatch(/ stderr F err:hello\n/);
      expect(log).toMatch(/ stdout F bye\n/);
    });

    it('attaches to a TTY container with resize', async () => {
      const id = await runContainer('tty', {
        command: ['/bin/sh'],
        stdin: true,
        tty: true,
      });
      const { url } = await rt().attach({ containerId: id, stdin: true, tty: true, stdout: true });
      const r = await spdyExec(url, {
        tty: true,
        resize: [{ Width: 77, Height: 22 }],
        stdin: async (write) => {
          await sleep(500);
          await write(Buffer.from('/bin/busybox stty size; echo "sum=$((6*7))"; exit 9\n'));
        },
      });
      const text = r.stdout.toString();
      expect(text).toContain('22 77');
      expect(text).toContain('sum=42');
      const st = await waitFor(
        () => rt().containerStatus({ containerId: id }),
        (s) => s.status?.state === 2,
      );
      expect(st.status?.exitCode).toBe(9);
    });
  });

  describe('PortForward', () => {
    let httpdPort: number;
    let echoPort: number;

    beforeAll(async () => {
      httpdPort = 8080;
      echoPort = 9000;
      await runContainer('httpd', {
        command: [
          '/bin/sh',
          '-c',
          'mkdir -p /tmp/www && echo hello-from-httpd > /tmp/www/index.html && exec /bin/busybox httpd -f -p 8080 -h /tmp/www',
        ],
      });
      await runContainer('echo', {
        command: ['/bin/busybox', 'nc', '-ll', '-p', '9000', '-e', '/bin/busybox', 'cat'],
      });
    });

    async function pair(client: SpdyClient, port: number, requestId: number) {
      const h = { port: String(port), requestid: String(requestId) };
      const error = await client.openStream({ ...h, streamtype: 'error' });
      await error.end();
      const data = await client.openStream({ ...h, streamtype: 'data' });
      return { error, data };
    }

    async function httpGet(client: SpdyClient, requestId: number) {
      const { error, data } = await pair(client, httpdPort, requestId);
      await data.write('GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n');
      await data.done;
      await error.done;
      return { body: data.text(), error: error.text() };
    }

    async function openForward(ports: number[]): Promise<SpdyClient> {
      const { url } = await rt().portForward({ podSandboxId: podId, port: ports });
      expect(url).toMatch(/\/portforward\//);
      const { client } = await SpdyClient.connect(url, ['portforward.k8s.io']);
      expect(client?.protocol).toBe('portforward.k8s.io');
      return client!;
    }

    it('reaches busybox httpd and nc in the pod, several ports and connections at once', async () => {
      // The servers come up asynchronously after StartContainer.
      const probe = await openForward([httpdPort]);
      await waitFor(
        () => httpGet(probe, 0),
        (r) => r.body.includes('hello-from-httpd'),
        15_000,
      );
      probe.destroy();
      const client = await openForward([httpdPort, echoPort]);
      const gets = Array.from({ length: 8 }, (_, i) => httpGet(client, 10 + i));
      const echoes = Array.from({ length: 4 }, async (_, i) => {
        const { error, data } = await pair(client, echoPort, 100 + i);
        await data.write(`echo-${i}\n`);
        await data.end(); // half-close: cat ends, the pod closes its side
        await data.done;
        await error.done;
        return data.text();
      });
      const [g, e] = await Promise.all([Promise.all(gets), Promise.all(echoes)]);
      for (const r of g) {
        expect(r.error).toBe('');
        expect(r.body).toContain('200 OK');
        expect(r.body).toContain('hello-from-httpd');
      }
      e.forEach((text, i) => expect(text).toBe(`echo-${i}\n`));
      client.destroy();
    });

    it('reports a closed port on the error stream', async () => {
      const client = await openForward([]);
      const { error } = await pair(client, 7, 1);
      await error.done;
      expect(error.text()).toMatch(/error forwarding port 7/);
      expect(error.text()).toMatch(/refused/i);
      client.destroy();
    });

    it(`echoes ${BIG / MB} MiB each way through nc, sha256-checked`, async () => {
      const client = await openForward([echoPort]);
      const transfer = async (requestId: number, size: number) => {
        const { error, data } = await pair(client, echoPort, requestId);
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
        await error.done;
        return { sent: sent.digest('hex'), got: got.digest('hex'), bytes: data.received };
      };
      const [big, small] = await Promise.all([transfer(1, BIG), transfer(2, 4 * MB)]);
      expect(big.bytes).toBe(BIG);
      expect(big.got).toBe(big.sent);
      expect(small.got).toBe(small.sent);
      client.destroy();
    }, 120_000);

    it('an abrupt disconnect closes the pod-side connections', async () => {
      const before = hostProcesses('busybox', 'cat').length;
      const client = await openForward([echoPort]);
      const streams: SpdyClientStream[] = [];
      for (let i = 0; i < 3; i++) {
        const { data } = await pair(client, echoPort, i);
        await data.write('x\n');
        streams.push(data);
      }
      await waitFor(
        async () => streams.every((s) => s.received > 0),
        (ok) => ok,
      );
      expect(hostProcesses('busybox', 'cat').length).toBe(before + 3);
      client.destroy();
      const after = await waitFor(
        async () => hostProcesses('busybox', 'cat').length,
        (n) => n === before,
      );
      expect(after).toBe(before);
    });
  });
});
