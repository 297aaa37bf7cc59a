// CRI streaming through berthd: exec round trips of /bin/true (ExecSync, and a
// streaming Exec over SPDY/3.1 and over WebSocket v5 — the RPC, the upgrade, the
// command, its status and the close), and port-forward throughput over SPDY to
// busybox nc in a pod with its own network namespace. The client is the test
// suite's SPDY/WebSocket client (no flow control, like moby/spdystream).
//
// Side by side with Debian's containerd 1.6 CRI and, when built, containerd
// 2.x's (bench/lib/cri-hosts.ts), one daemon at a time; the ratio column is
// Berth against the better containerd on each row. A transport a daemon does
// not offer is shown as "-" with the reason below the table.

import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Benchmark, BenchContext } from '../benchmark.js';
import { CONTAINER_IMAGE, type CriHost, measureEachCriSubject } from '../lib/cri-hosts.js';
import { summarize } from '../lib/stats.js';
import { printComparison } from '../lib/table.js';
import { podConfig, waitFor } from '../../test/helpers/cri.js';
import { SpdyClient, spdyExec, wsExec } from '../../test/helpers/stream-client.js';

const MB = 1024 * 1024;
const TRANSFER = 256 * MB;
const ECHO_PORT = 9000;
const SOURCE_PORT = 9001;

async function runContainer(
  h: CriHost,
  podId: string,
  logDir: string,
  name: string,
  command: string[],
): Promise<string> {
  const { containerId } = await h.cri.runtime.createContainer({
    podSandboxId: podId,
    config: { metadata: { name }, image: { image: CONTAINER_IMAGE }, command },
    sandboxConfig: podConfig('bench', logDir),
  });
  await h.cri.runtime.startContainer({ containerId });
  return containerId;
}

async function timed(ctx: BenchContext, label: string, fn: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < ctx.warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < ctx.runs; i++) {
    ctx.progress(`${label} ${i + 1}/${ctx.runs}`);
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

/** One port-forward connection: `upload` bytes sent (then half-close), returns bytes received and seconds. */
async function forward(
  client: SpdyClient,
  port: number,
  requestId: number,
  upload: number,
): Promise<{ received: number; seconds: number; echoed: boolean }> {
  const h = { port: String(port), requestid: String(requestId) };
  const error = await client.openStream({ ...h, streamtype: 'error' });
  await error.end();
  const data = await client.openStream({ ...h, streamtype: 'data' });
  data.collect = false;
  const sent = createHash('sha256');
  const got = createHash('sha256');
  data.on('data', (c: Buffer) => got.update(c));
  const t0 = performance.now();
  const chunk = randomBytes(MB);
  for (let off = 0; off < upload; off += MB) {
    sent.update(chunk);
    await data.write(chunk);
  }
  if (upload > 0) await data.end();
  await data.done;
  const seconds = (performance.now() - t0) / 1000;
  await error.done;
  if (error.text()) throw new Error(`port-forward: ${error.text()}`);
  return {
    received: data.received,
    seconds,
    echoed: upload > 0 && sent.digest('hex') === got.digest('hex'),
  };
}

interface Result {
  execSync: number[];
  spdy: number[];
  ws: number[] | string;
  wsProtocol: string;
  echo: { seconds: number };
  download: { seconds: number };
}

async function measure(ctx: BenchContext, h: CriHost): Promise<Result> {
  const logDir = path.join(h.dir, 'stream-logs');
  const { podSandboxId } = await h.cri.runtime.runPodSandbox({
    config: podConfig('bench', logDir),
  });
  const shell = await runContainer(h, podSandboxId, logDir, 'shell', [
    '/bin/busybox',
    'sleep',
    '100000',
  ]);
  await runContainer(h, podSandboxId, logDir, 'echo', [
    '/bin/busybox',
    'nc',
    '-ll',
    '-p',
    String(ECHO_PORT),
    '-e',
    '/bin/busybox',
    'cat',
  ]);
  await runContainer(h, podSandboxId, logDir, 'source', [
    '/bin/busybox',
    'nc',
    '-ll',
    '-p',
    String(SOURCE_PORT),
    '-e',
    '/bin/busybox',
    'head',
    '-c',
    String(TRANSFER),
    '/dev/zero',
  ]);

  const rt = h.cri.runtime;
  const execSync = await timed(ctx, `${h.label}: ExecSync`, async () => {
    const r = await rt.execSync({ containerId: shell, cmd: ['/bin/true'], timeout: 0 });
    if (r.exitCode !== 0) throw new Error(`ExecSync /bin/true exited ${r.exitCode}`);
  });
  const streamUrl = async () =>
    (await rt.exec({ containerId: shell, cmd: ['/bin/true'], stdout: true, stderr: true })).url;
  const spdy = await timed(ctx, `${h.label}: Exec over SPDY`, async () => {
    const r = await spdyExec(await streamUrl(), { protocols: ['v4.channel.k8s.io'] });
    if (r.exitCode !== 0) throw new Error(`SPDY exec: ${JSON.stringify(r.exitCode)}`);
  });
  let ws: number[] | string;
  let wsProtocol = '';
  try {
    ws = await timed(ctx, `${h.label}: Exec over WebSocket`, async () => {
      const r = await wsExec(await streamUrl(), {
        protocols: ['v5.channel.k8s.io', 'v4.channel.k8s.io'],
      });
      wsProtocol = r.protocol;
      if (r.exitCode !== 0) throw new Error(`WebSocket exec: ${JSON.stringify(r.exitCode)}`);
    });
  } catch (err) {
    ws = (err as Error).message;
  }

  ctx.progress(`${h.label}: port-forward`);
  const { url } = await rt.portForward({ podSandboxId, port: [] });
  const { client } = await SpdyClient.connect(url, ['portforward.k8s.io']);
  if (!client) throw new Error(`${h.label}: port-forward upgrade refused`);
  ctx.cleanup.defer(`${h.label} port-forward connection`, () => client.destroy());
  try {
    // nc comes up asynchronously after StartContainer.
    await waitFor(
      () => forward(client, ECHO_PORT, 0, MB).catch(() => undefined),
      (r) => r?.echoed === true,
      15_000,
    );
    const echo = await forward(client, ECHO_PORT, 1, TRANSFER);
    if (!echo.echoed || echo.received !== TRANSFER) {
      throw new Error(`echo returned ${echo.received} bytes, checksum ok: ${echo.echoed}`);
    }
    const download = await forward(client, SOURCE_PORT, 2, 0);
    if (download.received !== TRANSFER) throw new Error(`download got ${download.received} bytes`);
    return { execSync, spdy, ws, wsProtocol, echo, download };
  } finally {
    client.destroy();
  }
}

export const criStreamingBenchmark: Benchmark = {
  name: 'cri-streaming',
  description:
    'CRI exec round trips (ExecSync, SPDY, WebSocket) and port-forward throughput — berthd vs containerd 1.6 and 2.x',
  async run(ctx) {
    const run = await measureEachCriSubject(ctx, 'cri-streaming', 210, (h) => measure(ctx, h));
    if (!run) return;
    const { labels, best, results } = run;
    const col = (f: (r: Result) => number | undefined) => results.map(f);
    const med = (s: number[] | string) => (typeof s === 'string' ? undefined : summarize(s).median);
    const p90 = (s: number[] | string) => (typeof s === 'string' ? undefined : summarize(s).p90);
    printComparison({
      title: `CRI exec of /bin/true, round trip (ms, ${ctx.runs} runs)`,
      subjects: labels,
      ratios: [],
      best,
      rows: [
        { metric: 'ExecSync, median', values: col((r) => med(r.execSync)) },
        { metric: 'ExecSync, p90', values: col((r) => p90(r.execSync)) },
        { metric: 'Exec + SPDY/3.1 (v4.channel.k8s.io), median', values: col((r) => med(r.spdy)) },
        { metric: 'Exec + SPDY/3.1, p90', values: col((r) => p90(r.spdy)) },
        { metric: 'Exec + WebSocket, median', values: col((r) => med(r.ws)) },
        { metric: 'Exec + WebSocket, p90', values: col((r) => p90(r.ws)) },
      ],
    });
    results.forEach((r, i) => {
      const how =
        typeof r.ws === 'string' ? `failed: ${r.ws}` : `negotiated ${r.wsProtocol || '?'}`;
      process.stdout.write(`  WebSocket exec, ${labels[i]}: ${how}\n`);
    });
    const mbps = (s: number) => TRANSFER / MB / s;
    printComparison({
      title: `CRI port-forward over SPDY/3.1 to busybox nc in the pod (${TRANSFER / MB} MiB, MiB/s)`,
      subjects: labels,
      ratios: [],
      best,
      rows: [
        {
          metric: 'echo (client → pod → client, concurrent)',
          values: col((r) => mbps(r.echo.seconds)),
          higherIsBetter: true,
        },
        {
          metric: 'download (pod → client)',
          values: col((r) => mbps(r.download.seconds)),
          higherIsBetter: true,
        },
      ],
    });
  },
};
