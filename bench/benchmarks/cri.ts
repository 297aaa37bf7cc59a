// The Kubernetes CRI, side by side: berthd's CRI plugin (berth-shim) and
// Debian's containerd 1.6 CRI plugin (containerd-shim-runc-v2), both driven by
// the test suite's CRI client over runtime.v1:
//
//  - RunPodSandbox latency (pause container, netns, CNI bridge + host-local);
//    each pod is then stopped and removed, untimed;
//  - CreateContainer + StartContainer latency of a `sleep` container inside a
//    running pod; each container is then stopped and removed, untimed;
//  - 20 pods, each with one container, started one after another, then torn
//    down one after another (StopPodSandbox + RemovePodSandbox);
//  - memory with those 20 pods running: the daemon's RSS and the PSS of all
//    its shims, summed.
//
// Each daemon has its own temporary root, its own CNI config with a bridge of
// its own, and the fixture pause and busybox images (berthd through the
// content and images API, containerd with `ctr -n k8s.io images import`). One
// subject runs at a time, so neither's processes change the other's PSS.

import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import type { Benchmark, BenchContext } from '../benchmark.js';
import type { Cleanup } from '../lib/cleanup.js';
import { berthdArgs, cpuMs } from '../lib/daemons.js';
import { MiB, readMemory } from '../lib/memory.js';
import { BERTHD, CONTAINERD, CTR, RUNC_SHIM } from '../lib/paths.js';
import { sleep } from '../lib/processes.js';
import { summarize } from '../lib/stats.js';
import { printComparison } from '../lib/table.js';
import { processesWithArgument } from '../lib/task-hosts.js';
import { tempDir } from '../lib/tempdir.js';
import { waitForVersion } from '../lib/version-probe.js';
import {
  busyboxImage,
  pauseImage,
  writeImageArchive,
  type BuiltImage,
} from '../../test/fixtures/image-builder.js';
import {
  type CriClient,
  criClient,
  importImage,
  podConfig,
  testNetwork,
  unmountUnder,
} from '../../test/helpers/cri.js';

const run = promisify(execFile);

export const CRI_PODS = 20;
const SETTLE_MS = 2000;
const SANDBOX_IMAGE = 'registry.k8s.io/pause:3.9';
const CONTAINER_IMAGE = 'docker.io/library/busybox:latest';
const CNI_BIN = '/usr/lib/cni';

interface CriHost {
  label: string;
  pid: number;
  socket: string;
  dir: string;
  cri: CriClient;
  shimPids(): number[];
  /** Removes every pod, stops the daemon and removes what it left. */
  dispose(): Promise<void>;
}

interface Subject {
  label: string;
  available(): string | undefined;
  start(cleanup: Cleanup, images: BuiltImage[], octet: number): Promise<CriHost>;
}

/** Starts a daemon, waits for its Version answer, and registers its stop. */
async function launch(
  cleanup: Cleanup,
  command: string,
  args: string[],
  socket: string,
): Promise<{ pid: number; stop: () => Promise<void> }> {
  let output = '';
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-32 * 1024);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const deferred = cleanup.defer(`stop ${command} (pid ${proc.pid})`, stop);
  try {
    await waitForVersion(socket, {
      timeoutMs: 30_000,
      failed: () =>
        proc.exitCode !== null ? `${command} exited (${proc.exitCode}):\n${output}` : undefined,
    });
  } catch (err) {
    await deferred.now();
    throw err;
  }
  return { pid: proc.pid!, stop: deferred.now };
}

/** Every pod through the CRI (netns, CNI, mounts undone), then the daemon and its mounts. */
function disposer(
  cri: CriClient,
  stop: () => Promise<void>,
  dir: string,
  shimPids: () => number[],
): () => Promise<void> {
  return async () => {
    const pods = await cri.runtime.listPodSandbox({}).catch(() => ({ items: [] }));
    for (const p of pods.items) {
      await cri.runtime.stopPodSandbox({ podSandboxId: p.id }).catch(() => {});
      await cri.runtime.removePodSandbox({ podSandboxId: p.id }).catch(() => {});
    }
    cri.close();
    const left = shimPids();
    await stop();
    // A shim that outlived its pods (it should not) is this run's to end.
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await unmountUnder(dir);
  };
}

const BERTH: Subject = {
  label: 'Berth',
  available: () => (existsSync(BERTHD) ? undefined : `${BERTHD} is not built`),
  async start(cleanup, images, octet) {
    const tmp = await tempDir(cleanup, 'berthd-cri-');
    const dir = tmp.path;
    const net = await testNetwork(dir, octet);
    cleanup.defer(`remove bridge ${net.bridge}`, () => net.dispose());
    const socket = path.join(dir, 'berth.sock');
    const config = path.join(dir, 'config.toml');
    await writeFile(
      config,
      [
        'version = 1',
        '[plugins."io.berth.grpc.v1.cri"]',
        `sandbox_image = "${SANDBOX_IMAGE}"`,
        `registry_config_path = "${path.join(dir, 'certs.d')}"`,
        '[plugins."io.berth.grpc.v1.cri".cni]',
        `conf_dir = "${net.confDir}"`,
        `bin_dirs = ["${CNI_BIN}"]`,
        '',
      ].join('\n'),
    );
    const { pid, stop } = await launch(cleanup, process.execPath, berthdArgs(dir, config), socket);
    for (const img of images) await importImage(socket, img);
    const cri = criClient(socket);
    const shimPids = () => processesWithArgument(socket, [pid, process.pid]);
    const dispose = disposer(cri, stop, dir, shimPids);
    const d = cleanup.defer('remove Berth pods', dispose);
    return { label: 'Berth', pid, socket, dir, cri, shimPids, dispose: d.now };
  },
};

/** containerd 1.6 with its CRI plugin, everything under `dir`. */
function containerdCriConfig(dir: string, socket: string, confDir: string): string {
  const cri = '[plugins."io.containerd.grpc.v1.cri"]';
  return [
    'version = 2',
    `root = "${dir}/root"`,
    `state = "${dir}/state"`,
    '[grpc]',
    `  address = "${socket}"`,
    '[ttrpc]',
    `  address = "${socket}.ttrpc"`,
    '[debug]',
    `  address = "${dir}/debug.sock"`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = "${dir}/opt"`,
    '[plugins."io.containerd.monitor.v1.cgroups"]',
    '  no_prometheus = true',
    cri,
    `  sandbox_image = "${SANDBOX_IMAGE}"`,
    '  disable_tcp_service = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    // This machine withholds CAP_SYS_RESOURCE: clamp the pause container's -998 as berthd does.
    '  restrict_oom_score_adj = true',
    '  disable_apparmor = true',
    `${cri.slice(0, -1)}.cni]`,
    `  bin_dir = "${CNI_BIN}"`,
    `  conf_dir = "${confDir}"`,
    `${cri.slice(0, -1)}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    `${cri.slice(0, -1)}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `${cri.slice(0, -1)}.registry]`,
    `  config_path = "${dir}/certs.d"`,
    '',
  ].join('\n');
}

const CONTAINERD_CRI: Subject = {
  label: 'containerd',
  available: () =>
    [CONTAINERD, CTR, RUNC_SHIM].every((f) => existsSync(f))
      ? undefined
      : 'Debian containerd (containerd, ctr, containerd-shim-runc-v2) is not installed',
  async start(cleanup, images, octet) {
    const tmp = await tempDir(cleanup, 'ctrd-cri-');
    const dir = tmp.path;
    const net = await testNetwork(dir, octet);
    cleanup.defer(`remove bridge ${net.bridge}`, () => net.dispose());
    const socket = path.join(dir, 'containerd.sock');
    const config = path.join(dir, 'config.toml');
    await writeFile(config, containerdCriConfig(dir, socket, net.confDir));
    const { pid, stop } = await launch(cleanup, CONTAINERD, ['--config', config], socket);
    await mkdir(path.join(dir, 'images'), { recursive: true });
    for (const img of images) {
      const archive = path.join(dir, 'images', `${img.config.digest.slice(7, 19)}.tar`);
      writeImageArchive(img, archive);
      await run(CTR, ['--address', socket, '-n', 'k8s.io', 'images', 'import', archive]);
    }
    const cri = criClient(socket);
    const shimPids = () => processesWithArgument(socket, [pid, process.pid]);
    const dispose = disposer(cri, stop, dir, shimPids);
    const d = cleanup.defer('remove containerd pods', dispose);
    return { label: 'containerd', pid, socket, dir, cri, shimPids, dispose: d.now };
  },
};

let podSeq = 0;

async function runPod(h: CriHost): Promise<{ id: string; config: Record<string, unknown> }> {
  const config = podConfig(`bench-${++podSeq}`, path.join(h.dir, 'logs', String(podSeq)));
  const { podSandboxId } = await h.cri.runtime.runPodSandbox({ config });
  return { id: podSandboxId, config };
}

async function removePod(h: CriHost, id: string): Promise<void> {
  await h.cri.runtime.stopPodSandbox({ podSandboxId: id });
  await h.cri.runtime.removePodSandbox({ podSandboxId: id });
}

async function startSleeper(
  h: CriHost,
  pod: { id: string; config: Record<string, unknown> },
  name: string,
): Promise<string> {
  const { containerId } = await h.cri.runtime.createContainer({
    podSandboxId: pod.id,
    config: {
      metadata: { name },
      image: { image: CONTAINER_IMAGE },
      command: ['sleep', '3600'],
      logPath: `${name}.log`,
    },
    sandboxConfig: pod.config,
  });
  await h.cri.runtime.startContainer({ containerId });
  return containerId;
}

async function timed(ctx: BenchContext, label: string, fn: () => Promise<number>) {
  for (let i = 0; i < ctx.warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < ctx.runs; i++) {
    ctx.progress(`${label} ${i + 1}/${ctx.runs}`);
    out.push(await fn());
  }
  return out;
}

interface Result {
  runp: number[];
  createStart: number[];
  podsUpS: number;
  podsDownS: number;
  daemonRssKiB: number;
  daemonPssKiB: number;
  shimPssKiB: number;
  shims: number;
  daemonCpuMs: number;
}

async function measure(ctx: BenchContext, h: CriHost): Promise<Result> {
  const runp = await timed(ctx, `${h.label}: RunPodSandbox`, async () => {
    const t0 = performance.now();
    const pod = await runPod(h);
    const ms = performance.now() - t0;
    await removePod(h, pod.id);
    return ms;
  });

  const pod = await runPod(h);
  let n = 0;
  const createStart = await timed(ctx, `${h.label}: CreateContainer+StartContainer`, async () => {
    const t0 = performance.now();
    const id = await startSleeper(h, pod, `c${++n}`);
    const ms = performance.now() - t0;
    await h.cri.runtime.stopContainer({ containerId: id, timeout: 0 });
    await h.cri.runtime.removeContainer({ containerId: id });
    return ms;
  });
  await removePod(h, pod.id);

  const cpu0 = cpuMs(h.pid);
  const pods: string[] = [];
  const t0 = performance.now();
  for (let i = 0; i < CRI_PODS; i++) {
    ctx.progress(`${h.label}: pod ${i + 1}/${CRI_PODS} up`);
    const p = await runPod(h);
    pods.push(p.id);
    await startSleeper(h, p, 'app');
  }
  const podsUpS = (performance.now() - t0) / 1000;
  await sleep(SETTLE_MS);
  const shimPids = h.shimPids();
  const shimMem = await Promise.all(shimPids.map((pid) => readMemory(pid).catch(() => undefined)));
  const daemonMem = await readMemory(h.pid);
  const t1 = performance.now();
  for (const [i, id] of pods.entries()) {
    ctx.progress(`${h.label}: pod ${i + 1}/${CRI_PODS} down`);
    await removePod(h, id);
  }
  const podsDownS = (performance.now() - t1) / 1000;
  return {
    runp,
    createStart,
    podsUpS,
    podsDownS,
    daemonRssKiB: daemonMem.rssKiB,
    daemonPssKiB: daemonMem.pssKiB,
    shimPssKiB: shimMem.reduce((a, m) => a + (m?.pssKiB ?? 0), 0),
    shims: shimMem.filter(Boolean).length,
    daemonCpuMs: cpuMs(h.pid) - cpu0,
  };
}

export const criBenchmark: Benchmark = {
  name: 'cri',
  description: `CRI runtime.v1: RunPodSandbox, Create+StartContainer, ${CRI_PODS} pods up/down, memory — berthd vs containerd 1.6`,
  async run(ctx) {
    const subjects: Subject[] = [];
    for (const s of [BERTH, CONTAINERD_CRI]) {
      const why = s.available();
      if (why) process.stdout.write(`(cri: ${s.label} skipped: ${why})\n`);
      else subjects.push(s);
    }
    if (!existsSync(path.join(CNI_BIN, 'bridge'))) {
      process.stdout.write(`(cri: skipped: no CNI plugins in ${CNI_BIN})\n`);
      return;
    }
    const images = [await pauseImage(), await busyboxImage()];
    const results: Result[] = [];
    for (const [i, s] of subjects.entries()) {
      ctx.progress(`${s.label}: starting`);
      // A /24 of its own per subject, so the bridges never overlap.
      const h = await s.start(ctx.cleanup, images, 200 + i);
      try {
        results.push(await measure(ctx, h));
      } finally {
        await h.dispose();
      }
    }
    const labels = subjects.map((s) => s.label);
    const ratios: [number, number][] = subjects.length === 2 ? [[0, 1]] : [];
    const col = (f: (r: Result) => number) => results.map(f);
    printComparison({
      title: `CRI latency (ms; median / p90 of ${ctx.runs})`,
      subjects: labels,
      ratios,
      rows: [
        { metric: 'RunPodSandbox, median', values: col((r) => summarize(r.runp).median) },
        { metric: 'RunPodSandbox, p90', values: col((r) => summarize(r.runp).p90) },
        {
          metric: 'CreateContainer+StartContainer, median',
          values: col((r) => summarize(r.createStart).median),
        },
        {
          metric: 'CreateContainer+StartContainer, p90',
          values: col((r) => summarize(r.createStart).p90),
        },
      ],
    });
    printComparison({
      title: `${CRI_PODS} pods with one container each, one after another`,
      subjects: labels,
      ratios,
      rows: [
        {
          metric: `start ${CRI_PODS} (runp+create+start), s`,
          values: col((r) => r.podsUpS),
          digits: 2,
        },
        {
          metric: `tear down ${CRI_PODS} (stopp+rmp), s`,
          values: col((r) => r.podsDownS),
          digits: 2,
        },
        { metric: 'daemon CPU over both, s', values: col((r) => r.daemonCpuMs / 1000), digits: 2 },
        {
          metric: `daemon RSS with ${CRI_PODS} pods, MiB`,
          values: col((r) => MiB(r.daemonRssKiB)),
        },
        {
          metric: `daemon PSS with ${CRI_PODS} pods, MiB`,
          values: col((r) => MiB(r.daemonPssKiB)),
        },
        { metric: 'shims, count', values: col((r) => r.shims), digits: 0 },
        { metric: 'shim PSS, sum over all shims, MiB', values: col((r) => MiB(r.shimPssKiB)) },
        {
          metric: 'daemon RSS + shims PSS, MiB',
          values: col((r) => MiB(r.daemonRssKiB + r.shimPssKiB)),
        },
      ],
    });
  },
};
