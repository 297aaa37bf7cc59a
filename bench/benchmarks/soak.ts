// Soak: many container lifecycles through one long-lived daemon, watching what
// grows. Two phases, each run on berthd and (when installed) containerd 1.6
// and 2.x, the ratio column being berthd against the better containerd:
//
//  - tasks: `run --rm /bin/true` cycles through the containerd API (berthd with
//    berth-shim, the containerds with runc-v2);
//  - CRI: pod cycles RunPodSandbox → CreateContainer → StartContainer →
//    ExecSync → StopPodSandbox → RemovePodSandbox.
//
// Every SOAK_EVERY cycles it samples the daemon's RSS and open fds, berthd's
// retained heap (from a heap snapshot, so a leak shows apart from garbage not
// yet collected), and what the removed containers left: shim servers, mounts,
// pinned netns, cgroups and files named after them. Cycle counts come from
// SOAK_TASK_CYCLES (default 300), SOAK_POD_CYCLES (default 100) and
// SOAK_EVERY (default 50). Heap snapshots only with SOAK_HEAP=1: writing one
// grows the daemon's RSS by tens of MiB that glibc keeps, so a run that takes
// them measures retained heap, and one that does not measures RSS.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Benchmark, BenchContext } from '../benchmark.js';
import { type CriHost, CONTAINER_IMAGE, measureEachCriSubject } from '../lib/cri-hosts.js';
import { heapSnapshotOptions, takeHeapSnapshot } from '../lib/heap-snapshot.js';
import {
  BERTHD_BERTH_SHIM,
  CONTAINERD2_RUNC_SHIM,
  CONTAINERD_RUNC_SHIM,
  type TaskHost,
  availableSubjects,
  benchId,
  benchRootfs,
  startTaskHost,
} from '../lib/task-hosts.js';
import {
  type BestRatio,
  type Cell,
  printComparison,
  printTable,
  versusBest,
} from '../lib/table.js';
import { tempDir } from '../lib/tempdir.js';
import { runRm } from './tasks.js';
import { type Leftovers, leftovers, processFigures } from '../../test/helpers/leftovers.js';
import { podConfig } from '../../test/helpers/cri.js';

/** Directories where runc keeps container state for each daemon's shims (not under the daemon's own dir). */
const RUNC_STATE = ['/run/berth/runc', '/run/containerd/runc'];

const HEAP = process.env.SOAK_HEAP === '1';

function positiveEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${name} must be a positive integer, got ${raw}`);
  return n;
}

interface Sample {
  cycle: number;
  rssKiB: number;
  fds: number;
  heapBytes?: number;
  left: Leftovers;
}

interface Probe {
  pid: number;
  socket: string;
  dir: string;
  /** Directory the daemon writes heap snapshots to; undefined when it does not. */
  heapDir?: string;
}

async function sample(p: Probe, cycle: number, removedIds: string[]): Promise<Sample> {
  // RSS first: writing a snapshot grows the daemon's memory for a while.
  const { rssKiB, fds } = processFigures(p.pid);
  const heapBytes = p.heapDir ? await takeHeapSnapshot(p.pid, p.socket, p.heapDir) : undefined;
  const left = leftovers({
    socket: p.socket,
    dir: p.dir,
    removedIds,
    except: [p.pid, process.pid],
    extraDirs: RUNC_STATE,
  });
  return { cycle, rssKiB, fds, heapBytes, left };
}

const mib = (kib: number) => kib / 1024;

function printSamples(title: string, samples: Sample[]): void {
  const rows: Cell[][] = samples.map((s) => [
    String(s.cycle),
    mib(s.rssKiB),
    s.heapBytes === undefined ? undefined : s.heapBytes / 2 ** 20,
    String(s.fds),
    String(s.left.shims),
    String(s.left.mounts),
    String(s.left.netns),
    String(s.left.cgroups),
    String(s.left.paths),
  ]);
  printTable(
    title,
    ['cycle', 'RSS MiB', 'heap MiB', 'fds', 'shims', 'mounts', 'netns', 'cgroups', 'paths'],
    rows,
  );
}

/** Start, middle and end figures of each subject, side by side. */
function printSummary(
  title: string,
  labels: string[],
  best: BestRatio | undefined,
  runs: Sample[][],
): void {
  const at = (s: Sample[], where: 'first' | 'mid' | 'last') =>
    where === 'first' ? s[0]! : where === 'last' ? s[s.length - 1]! : s[Math.floor(s.length / 2)]!;
  const rss = (w: 'first' | 'mid' | 'last') => runs.map((s) => mib(at(s, w).rssKiB));
  const growth = (a: 'first' | 'mid', b: 'mid' | 'last') =>
    runs.map((s) => mib(at(s, b).rssKiB - at(s, a).rssKiB));
  const leftTotal = (s: Sample[]) => Object.values(at(s, 'last').left).reduce((x, y) => x + y, 0);
  printComparison({
    title,
    subjects: labels,
    ratios: [],
    best,
    rows: [
      { metric: 'daemon RSS at start, MiB', values: rss('first') },
      { metric: 'daemon RSS at end, MiB', values: rss('last') },
      { metric: 'RSS growth, first half, MiB', values: growth('first', 'mid') },
      { metric: 'RSS growth, second half, MiB', values: growth('mid', 'last') },
      {
        metric: 'open fds, start → end change',
        values: runs.map((s) => at(s, 'last').fds - at(s, 'first').fds),
        digits: 0,
      },
      { metric: 'leftovers at end (all kinds)', values: runs.map(leftTotal), digits: 0 },
    ],
  });
}

async function soakTasks(ctx: BenchContext, cycles: number, every: number): Promise<void> {
  const containerds = [CONTAINERD_RUNC_SHIM, CONTAINERD2_RUNC_SHIM];
  const subjects = availableSubjects().filter(
    (s) => s === BERTHD_BERTH_SHIM || containerds.includes(s),
  );
  const rootfs = await benchRootfs(ctx.cleanup);
  const runs: Sample[][] = [];
  for (const [k, subject] of subjects.entries()) {
    const heap =
      subject.daemon === 'berthd' && HEAP ? await tempDir(ctx.cleanup, 'soak-heap-') : undefined;
    const host: TaskHost = await startTaskHost(subject, rootfs, ctx.cleanup, {
      env: heap ? heapSnapshotOptions(heap.path) : undefined,
    });
    try {
      const probe = {
        pid: host.daemon.pid,
        socket: host.daemon.socket,
        dir: host.daemon.dir,
        heapDir: heap?.path,
      };
      const removed: string[] = [];
      const samples = [await sample(probe, 0, removed)];
      for (let i = 1; i <= cycles; i++) {
        ctx.progress(`soak tasks: ${subject.label} ${i}/${cycles}`);
        const id = benchId(k, 'soak', i);
        await runRm(host, id);
        removed.push(id);
        if (i % every === 0 || i === cycles) samples.push(await sample(probe, i, removed));
      }
      printSamples(`soak, run --rm /bin/true: ${subject.label}`, samples);
      runs.push(samples);
    } finally {
      await host.dispose();
    }
  }
  const labels = subjects.map((s) => s.label);
  printSummary(
    `soak, ${cycles} × run --rm /bin/true`,
    labels,
    versusBest(
      labels,
      subjects.indexOf(BERTHD_BERTH_SHIM),
      containerds.map((s) => subjects.indexOf(s)).filter((i) => i >= 0),
      'containerd',
    ),
    runs,
  );
}

async function podCycle(h: CriHost, n: number, removed: string[]): Promise<void> {
  const config = podConfig(`soak-${n}`, path.join(h.dir, 'logs', String(n)));
  const { podSandboxId } = await h.cri.runtime.runPodSandbox({ config });
  const { containerId } = await h.cri.runtime.createContainer({
    podSandboxId,
    config: {
      metadata: { name: 'sleeper' },
      image: { image: CONTAINER_IMAGE },
      command: ['sleep', '3600'],
      logPath: 'sleeper.log',
    },
    sandboxConfig: config,
  });
  await h.cri.runtime.startContainer({ containerId });
  const exec = await h.cri.runtime.execSync({ containerId, cmd: ['true'], timeout: 30 });
  if (exec.exitCode !== 0) throw new Error(`exec in ${containerId} exited ${exec.exitCode}`);
  await h.cri.runtime.stopPodSandbox({ podSandboxId });
  await h.cri.runtime.removePodSandbox({ podSandboxId });
  removed.push(podSandboxId, containerId);
}

async function soakPods(ctx: BenchContext, cycles: number, every: number): Promise<void> {
  const heapDirs = new Map<string, string>();
  const out = await measureEachCriSubject(
    ctx,
    'soak',
    140,
    async (h) => {
      const removed: string[] = [];
      const probe = { pid: h.pid, socket: h.socket, dir: h.dir, heapDir: heapDirs.get(h.label) };
      const samples = [await sample(probe, 0, removed)];
      for (let i = 1; i <= cycles; i++) {
        ctx.progress(`soak pods: ${h.label} ${i}/${cycles}`);
        await podCycle(h, i, removed);
        if (i % every === 0 || i === cycles) samples.push(await sample(probe, i, removed));
      }
      printSamples(`soak, CRI pod cycles: ${h.label}`, samples);
      return samples;
    },
    (label) => {
      if (label !== 'Berth' || !HEAP) return undefined;
      const dir = mkdtempSync(path.join(os.tmpdir(), 'soak-heap-'));
      ctx.cleanup.defer(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
      heapDirs.set(label, dir);
      return heapSnapshotOptions(dir);
    },
  );
  if (!out) return;
  printSummary(
    `soak, ${cycles} × CRI pod cycle (runp, create, start, exec, stopp, rmp)`,
    out.labels,
    out.best,
    out.results,
  );
}

export const soakBenchmark: Benchmark = {
  name: 'soak',
  description:
    'many run --rm and CRI pod cycles: daemon RSS, heap, fds and leftovers every few cycles, berthd beside containerd',
  async run(ctx) {
    const every = positiveEnv('SOAK_EVERY', 50);
    await soakTasks(ctx, positiveEnv('SOAK_TASK_CYCLES', 300), every);
    await soakPods(ctx, positiveEnv('SOAK_POD_CYCLES', 100), every);
  },
};
