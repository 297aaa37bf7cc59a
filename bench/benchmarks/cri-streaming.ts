// CRI streaming through berthd: exec round trips of /bin/true (ExecSync, and a
// streaming Exec over SPDY/3.1 and over WebSocket v5 — the RPC, the upgrade, the
// command, its status and the close), and port-forward throughput over SPDY to
// busybox nc in a pod with its own network namespace. The client is the test
// suite's SPDY/WebSocket client (no flow control, like moby/spdystream).
//
// Only berthd is measured: Debian's containerd 1.6 CRI would need the fixture
// images exported as archives, its own CNI and CRI config; not wired yet.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Benchmark, BenchContext } from '../benchmark.js';
import { BERTHD } from '../lib/paths.js';
import { terminate } from '../lib/processes.js';
import { summarize } from '../lib/stats.js';
import { printTable } from '../lib/table.js';
import { pauseImage, busyboxImage } from '../../test/fixtures/image-builder.js';
import {
  type CriClient,
  criClient,
  importImage,
  podConfig,
  testNetwork,
  unmountUnder,
  waitFor,
} from '../../test/helpers/cri.js';
import { waitForSocket } from '../../test/helpers/daemon.js';
import { SpdyClient, spdyExec, wsExec } from '../../test/helpers/stream-client.js';

const MB = 1024 * 1024;
const TRANSFER = 256 * MB;
const ECHO_PORT = 9000;
const SOURCE_PORT = 9001;

interface CriEnv {
  cri: CriClient;
  work: string;
}

/** berthd with the CRI on a private bridge network, the fixture images imported; all undone by cleanup. */
async function startCri(ctx: BenchContext): Promise<CriEnv> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-cri-'));
  ctx.cleanup.defer('CRI work directory', () => rm(work, { recursive: true, force: true }));
  const net = await testNetwork(work);
  ctx.cleanup.defer('CNI bridge', () => net.dispose());
  const address = path.join(work, 'berth.sock');
  const config = path.join(work, 'config.toml');
  await writeFile(
    config,
    [
      'version = 1',
      '[plugins."io.berth.grpc.v1.cri"]',
      'sandbox_image = "registry.k8s.io/pause:3.9"',
      '[plugins."io.berth.grpc.v1.cri".cni]',
      `conf_dir = "${net.confDir}"`,
      'bin_dirs = ["/usr/lib/cni"]',
      '',
    ].join('\n'),
  );
  const root = path.join(work, 'root');
  const state = path.join(work, 'state');
  const proc = spawn(
    process.execPath,
    [BERTHD, '--config', config, '--root', root, '--state', state, '--address', address],
    { stdio: 'ignore' },
  );
  ctx.cleanup.defer('berthd', async () => {
    if (proc.pid) await terminate(proc.pid, { graceMs: 10_000 });
    await unmountUnder(work);
  });
  await waitForSocket(address, 20_000, proc);
  const cri = criClient(address);
  // Pods first (netns, CNI, mounts go through the CRI), before berthd is stopped.
  ctx.cleanup.defer('CRI pods', async () => {
    const pods = await cri.runtime.listPodSandbox({}).catch(() => ({ items: [] }));
    for (const p of pods.items)
      await cri.runtime.removePodSandbox({ podSandboxId: p.id }).catch(() => {});
    cri.close();
  });
  await importImage(address, await pauseImage());
  await importImage(address, await busyboxImage());
  return { cri, work };
}

async function runContainer(
  env: CriEnv,
  podId: string,
  logDir: string,
  name: string,
  command: string[],
): Promise<string> {
  const { containerId } = await env.cri.runtime.createContainer({
    podSandboxId: podId,
    config: { metadata: { name }, image: { image: 'busybox' }, command },
    sandboxConfig: podConfig('bench', logDir),
  });
  await env.cri.runtime.startContainer({ containerId });
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

export const criStreamingBenchmark: Benchmark = {
  name: 'cri-streaming',
  description: 'CRI exec round trips (ExecSync, SPDY, WebSocket) and port-forward throughput',
  async run(ctx) {
    ctx.progress('starting berthd with the CRI');
    const env = await startCri(ctx);
    const logDir = path.join(env.work, 'logs');
    const { podSandboxId } = await env.cri.runtime.runPodSandbox({
      config: podConfig('bench', logDir),
    });
    const shell = await runContainer(env, podSandboxId, logDir, 'shell', [
      '/bin/busybox',
      'sleep',
      '100000',
    ]);
    await runContainer(env, podSandboxId, logDir, 'echo', [
      '/bin/busybox',
      'nc',
      '-ll',
      '-p',
      String(ECHO_PORT),
      '-e',
      '/bin/busybox',
      'cat',
    ]);
    await runContainer(env, podSandboxId, logDir, 'source', [
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

    const rt = env.cri.runtime;
    const execSync = await timed(ctx, 'ExecSync', async () => {
      const r = await rt.execSync({ containerId: shell, cmd: ['/bin/true'], timeout: 0 });
      if (r.exitCode !== 0) throw new Error(`ExecSync /bin/true exited ${r.exitCode}`);
    });
    const streamUrl = async () =>
      (await rt.exec({ containerId: shell, cmd: ['/bin/true'], stdout: true, stderr: true })).url;
    const spdy = await timed(ctx, 'Exec over SPDY', async () => {
      const r = await spdyExec(await streamUrl(), { protocols: ['v4.channel.k8s.io'] });
      if (r.exitCode !== 0) throw new Error(`SPDY exec: ${JSON.stringify(r.exitCode)}`);
    });
    const ws = await timed(ctx, 'Exec over WebSocket', async () => {
      const r = await wsExec(await streamUrl(), { protocols: ['v5.channel.k8s.io'] });
      if (r.exitCode !== 0) throw new Error(`WebSocket exec: ${JSON.stringify(r.exitCode)}`);
    });
    const row = (label: string, s: number[]) => {
      const m = summarize(s);
      return [label, m.median, m.p90, m.min, m.max];
    };
    printTable(
      `CRI exec of /bin/true, round trip (ms, ${ctx.runs} runs)`,
      ['', 'median', 'p90', 'min', 'max'],
      [
        row('ExecSync', execSync),
        row('Exec + SPDY/3.1 (v4.channel.k8s.io)', spdy),
        row('Exec + WebSocket (v5.channel.k8s.io)', ws),
      ],
    );

    ctx.progress('port-forward');
    const { url } = await rt.portForward({ podSandboxId, port: [] });
    const { client } = await SpdyClient.connect(url, ['portforward.k8s.io']);
    if (!client) throw new Error('port-forward upgrade refused');
    ctx.cleanup.defer('port-forward connection', () => client.destroy());
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
    client.destroy();
    const mbps = (bytes: number, s: number) => bytes / MB / s;
    printTable(
      `CRI port-forward over SPDY/3.1 to busybox nc in the pod (${TRANSFER / MB} MiB)`,
      ['', 'MiB/s', 'seconds'],
      [
        ['echo (client → pod → client, concurrent)', mbps(TRANSFER, echo.seconds), echo.seconds],
        ['download (pod → client)', mbps(TRANSFER, download.seconds), download.seconds],
      ],
    );
  },
};
