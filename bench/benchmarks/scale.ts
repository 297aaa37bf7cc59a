// Fifty containers: started one after another (create container → create task
// → start, each running `sleep`), memory read while all fifty run (every
// shim's PSS summed, the daemon's RSS and PSS), then torn down one after
// another (kill → wait → delete task → delete container).
//
// One subject at a time, with only its daemon running: PSS splits shared pages
// among the processes that map them, so another subject's shims or daemon
// would change the figures.

import { performance } from 'node:perf_hooks';
import type { Benchmark, BenchContext } from '../benchmark.js';
import type { ContainerHandle, TaskHandle } from '../../client/container.js';
import { MiB, type MemoryUsage, readMemory } from '../lib/memory.js';
import { sleep } from '../lib/processes.js';
import { summarize } from '../lib/stats.js';
import {
  type TaskHost,
  type TaskSubject,
  availableSubjects,
  benchId,
  benchRootfs,
  printTaskComparison,
  startTaskHost,
} from '../lib/task-hosts.js';

export const CONTAINERS = 50;
const SETTLE_MS = 2000;

interface Round {
  startMs: number[];
  startTotalMs: number;
  teardownMs: number[];
  teardownTotalMs: number;
  shims: MemoryUsage[];
  daemonIdle: MemoryUsage;
  daemonBusy: MemoryUsage;
}

const sum = (ms: MemoryUsage[], f: (m: MemoryUsage) => number) => ms.reduce((a, m) => a + f(m), 0);

async function round(host: TaskHost, index: number, ctx: BenchContext): Promise<Round> {
  const label = host.subject.label;
  for (let i = 0; i < ctx.warmup; i++) {
    ctx.progress(`scale: ${label} warm-up`);
    const ctr = await host.newContainer(benchId(index, 'warm', i), ['/bin/sleep', '3600']);
    const task = await ctr.newTask();
    host.trackPid(task.pid);
    await task.start();
    await host.destroyTask(task);
    await ctr.delete();
  }
  await sleep(SETTLE_MS);
  const daemonIdle = await readMemory(host.daemon.pid);

  const running: { ctr: ContainerHandle; task: TaskHandle }[] = [];
  const startMs: number[] = [];
  const s0 = performance.now();
  for (let i = 0; i < CONTAINERS; i++) {
    ctx.progress(`scale: ${label} start ${i + 1}/${CONTAINERS}`);
    const t0 = performance.now();
    const ctr = await host.newContainer(benchId(index, 'scale', i), ['/bin/sleep', '3600']);
    const task = await ctr.newTask();
    host.trackPid(task.pid);
    await task.start();
    startMs.push(performance.now() - t0);
    running.push({ ctr, task });
  }
  const startTotalMs = performance.now() - s0;

  ctx.progress(`scale: ${label} memory with ${CONTAINERS} running`);
  await sleep(SETTLE_MS);
  const shimPids = host.shimPids();
  const shims = await Promise.all(shimPids.map((pid) => readMemory(pid)));
  const daemonBusy = await readMemory(host.daemon.pid);

  const teardownMs: number[] = [];
  const d0 = performance.now();
  for (const [i, { ctr, task }] of running.entries()) {
    ctx.progress(`scale: ${label} tear down ${i + 1}/${CONTAINERS}`);
    const t0 = performance.now();
    await host.destroyTask(task);
    await ctr.delete();
    teardownMs.push(performance.now() - t0);
  }
  const teardownTotalMs = performance.now() - d0;
  return { startMs, startTotalMs, teardownMs, teardownTotalMs, shims, daemonIdle, daemonBusy };
}

export const scaleBenchmark: Benchmark = {
  name: 'scale',
  description: `${CONTAINERS} containers started and torn down one by one; shim PSS and daemon RSS with ${CONTAINERS} running`,
  async run(ctx) {
    const subjects: TaskSubject[] = availableSubjects();
    ctx.progress('scale: building the rootfs');
    const rootfs = await benchRootfs(ctx.cleanup);
    const rounds: Round[] = [];
    for (const [i, subject] of subjects.entries()) {
      ctx.progress(`scale: starting ${subject.daemon} for ${subject.label}`);
      const host = await startTaskHost(subject, rootfs, ctx.cleanup);
      rounds.push(await round(host, i, ctx));
      ctx.progress(`scale: stopping ${subject.label}`);
      await host.dispose();
    }

    const row = (metric: string, f: (r: Round) => number, digits = 1) => ({
      metric,
      values: rounds.map(f),
      digits,
    });
    printTaskComparison(
      `${CONTAINERS} containers, one after another (sleep 3600, no stdio; one round per subject)`,
      subjects,
      [
        row(`start all ${CONTAINERS}, total (s)`, (r) => r.startTotalMs / 1000, 2),
        row('  per container, median (ms)', (r) => summarize(r.startMs).median),
        row('  per container, p90 (ms)', (r) => summarize(r.startMs).p90),
        row(`tear down all ${CONTAINERS}, total (s)`, (r) => r.teardownTotalMs / 1000, 2),
        row('  per container, median (ms)', (r) => summarize(r.teardownMs).median),
        row('  per container, p90 (ms)', (r) => summarize(r.teardownMs).p90),
      ],
    );
    printTaskComparison(
      `Memory with ${CONTAINERS} containers running (MiB, ${SETTLE_MS} ms after the last start)`,
      subjects,
      [
        row('shim processes (count)', (r) => r.shims.length, 0),
        row('shim PSS, sum over all shims', (r) => MiB(sum(r.shims, (m) => m.pssKiB))),
        row('shim USS, sum', (r) => MiB(sum(r.shims, (m) => m.ussKiB))),
        row('shim RSS, sum', (r) => MiB(sum(r.shims, (m) => m.rssKiB))),
        row('  PSS per shim', (r) => MiB(sum(r.shims, (m) => m.pssKiB) / r.shims.length), 2),
        row('daemon RSS', (r) => MiB(r.daemonBusy.rssKiB)),
        row('daemon PSS', (r) => MiB(r.daemonBusy.pssKiB)),
        row('  daemon RSS when idle, before', (r) => MiB(r.daemonIdle.rssKiB)),
        row('daemon + shims PSS', (r) => MiB(r.daemonBusy.pssKiB + sum(r.shims, (m) => m.pssKiB))),
      ],
    );
    process.stdout.write('\n');
  },
};
