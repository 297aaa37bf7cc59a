// The Kubernetes CRI, side by side: berthd's CRI plugin (berth-shim),
// Debian's containerd 1.6 CRI plugin and, when built, containerd 2.x's (each
// with its own release's containerd-shim-runc-v2), all driven by the test
// suite's CRI client over runtime.v1:
//
//  - RunPodSandbox latency (netns, CNI bridge + host-local, and a pause
//    container, except in Berth for a pod whose containers do not share a PID
//    namespace: the kubelet's default, and this benchmark's, and a second row
//    with shared PIDs); each pod is then stopped and removed, untimed;
//  - CreateContainer + StartContainer latency of a `sleep` container inside a
//    running pod; each container is then stopped and removed, untimed;
//  - 20 pods, each with one container, started one after another, then torn
//    down one after another (StopPodSandbox + RemovePodSandbox);
//  - memory with those 20 pods running: the daemon's RSS and the PSS of all
//    its shims, summed.
//
// Each daemon has its own temporary root, its own CNI config with a bridge of
// its own, and the fixture pause and busybox images (berthd through the
// content and images API, the containerds with `ctr -n k8s.io images import`).
// One subject runs at a time, so none's processes change another's PSS. The
// ratio column is Berth against the better containerd on each row.

import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Benchmark, BenchContext } from '../benchmark.js';
import { CONTAINER_IMAGE, type CriHost, measureEachCriSubject } from '../lib/cri-hosts.js';
import { cpuMs } from '../lib/daemons.js';
import { MiB, readMemory } from '../lib/memory.js';
import { sleep } from '../lib/processes.js';
import { summarize } from '../lib/stats.js';
import { printComparison } from '../lib/table.js';
import { podConfig } from '../../test/helpers/cri.js';

export const CRI_PODS = 20;
const SETTLE_MS = 2000;
let podSeq = 0;

/** CRI NamespaceMode: POD shares one PID namespace (shareProcessNamespace), CONTAINER does not. */
const PID_POD = 0;
const PID_CONTAINER = 1;

/**
 * A pod as the kubelet sends it: its containers do not share a PID namespace
 * unless `sharedPids` (shareProcessNamespace: true). Berth runs the first kind
 * without a pause container (drop_infra_ctr); the containerds always start one.
 */
async function runPod(
  h: CriHost,
  sharedPids = false,
): Promise<{ id: string; config: Record<string, unknown> }> {
  const config = podConfig(`bench-${++podSeq}`, path.join(h.dir, 'logs', String(podSeq)), {
    linux: {
      securityContext: { namespaceOptions: { pid: sharedPids ? PID_POD : PID_CONTAINER } },
    },
  });
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
      linux: { securityContext: { namespaceOptions: { pid: PID_CONTAINER } } },
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
  runpShared: number[];
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

  const runpShared = await timed(ctx, `${h.label}: RunPodSandbox, shared PIDs`, async () => {
    const t0 = performance.now();
    const pod = await runPod(h, true);
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
    runpShared,
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
  description: `CRI runtime.v1: RunPodSandbox, Create+StartContainer, ${CRI_PODS} pods up/down, memory — berthd vs containerd 1.6 and 2.x`,
  async run(ctx) {
    const run = await measureEachCriSubject(ctx, 'cri', 200, (h) => measure(ctx, h));
    if (!run) return;
    const { labels, best, results } = run;
    const col = (f: (r: Result) => number) => results.map(f);
    printComparison({
      title: `CRI latency (ms; median / p90 of ${ctx.runs})`,
      subjects: labels,
      ratios: [],
      best,
      rows: [
        { metric: 'RunPodSandbox, median', values: col((r) => summarize(r.runp).median) },
        { metric: 'RunPodSandbox, p90', values: col((r) => summarize(r.runp).p90) },
        {
          metric: 'RunPodSandbox, shared PIDs, median',
          values: col((r) => summarize(r.runpShared).median),
        },
        {
          metric: 'RunPodSandbox, shared PIDs, p90',
          values: col((r) => summarize(r.runpShared).p90),
        },
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
      ratios: [],
      best,
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
