// Daemon cold start and idle memory: berthd against Debian's containerd.
//
// Cold start is spawn → first answered Version RPC (the same grpc-js call for
// both). Idle memory is read 1 s after that. Stop is SIGTERM → exit. Daemons
// run one at a time, in alternating order, each in fresh temporary directories.

import type { Benchmark, BenchContext } from '../benchmark.js';
import { type DaemonKind, startDaemon } from '../lib/daemons.js';
import { MiB, type MemoryUsage, readMemory } from '../lib/memory.js';
import { haveContainerd } from '../lib/paths.js';
import { sleep } from '../lib/processes.js';
import { median, summarize } from '../lib/stats.js';
import { printComparison } from '../lib/table.js';

const SETTLE_MS = 1000;

interface Samples {
  readyMs: number[];
  stopMs: number[];
  memory: MemoryUsage[];
  /** berthd only: the startupMs its "berthd started" log line reports (Daemon.start alone). */
  selfReportedMs: number[];
  version: string;
}

function berthdStartupMs(logs: string): number | undefined {
  for (const line of logs.split('\n')) {
    try {
      const entry = JSON.parse(line) as { msg?: string; startupMs?: number };
      if (entry.msg === 'berthd started' && typeof entry.startupMs === 'number') {
        return entry.startupMs;
      }
    } catch {
      /* not a log line */
    }
  }
  return undefined;
}

async function once(kind: DaemonKind, ctx: BenchContext, s?: Samples): Promise<void> {
  const d = await startDaemon(kind, ctx.cleanup);
  try {
    await sleep(SETTLE_MS);
    const memory = await readMemory(d.pid);
    const stopMs = await d.stop();
    if (s) {
      s.readyMs.push(d.readyMs);
      s.memory.push(memory);
      s.stopMs.push(stopMs);
      s.version = d.version.version;
      const self = kind === 'berthd' ? berthdStartupMs(d.logs()) : undefined;
      if (self !== undefined) s.selfReportedMs.push(self);
    }
  } finally {
    await d.dispose();
  }
}

export const daemonBenchmark: Benchmark = {
  name: 'daemon',
  description: 'cold start to first Version answer, idle RSS/PSS, stop time: berthd vs containerd',
  async run(ctx) {
    const kinds: DaemonKind[] = haveContainerd() ? ['berthd', 'containerd'] : ['berthd'];
    const samples = new Map<DaemonKind, Samples>(
      kinds.map((k) => [
        k,
        { readyMs: [], stopMs: [], memory: [], selfReportedMs: [], version: '' },
      ]),
    );
    for (let i = 0; i < ctx.warmup; i++) {
      for (const k of kinds) {
        ctx.progress(`daemon: warm-up ${k}`);
        await once(k, ctx);
      }
    }
    for (let i = 0; i < ctx.runs; i++) {
      // Alternate who goes first, so drift on the machine does not favour one.
      for (const k of i % 2 === 0 ? kinds : [...kinds].reverse()) {
        ctx.progress(`daemon: run ${i + 1}/${ctx.runs} ${k}`);
        await once(k, ctx, samples.get(k));
      }
    }

    const per = (f: (s: Samples) => number | undefined) => kinds.map((k) => f(samples.get(k)!));
    const ready = (f: (x: ReturnType<typeof summarize>) => number) =>
      per((s) => f(summarize(s.readyMs)));
    const mem = (f: (m: MemoryUsage) => number) => per((s) => MiB(median(s.memory.map(f))));
    printComparison({
      title: `Daemon (${ctx.runs} runs each; ${kinds.map((k) => `${k} ${samples.get(k)!.version}`).join(', ')})`,
      subjects: kinds.map((k) => (k === 'berthd' ? 'Berth' : 'containerd')),
      ratios: kinds.length > 1 ? [[0, 1]] : [],
      rows: [
        { metric: 'cold start → Version answered, median (ms)', values: ready((x) => x.median) },
        { metric: 'cold start → Version answered, p90 (ms)', values: ready((x) => x.p90) },
        { metric: 'cold start → Version answered, min (ms)', values: ready((x) => x.min) },
        {
          metric: '  of which Daemon.start (its startupMs log field), median (ms)',
          values: per((s) => (s.selfReportedMs.length ? median(s.selfReportedMs) : undefined)),
        },
        { metric: 'idle RSS, median (MiB)', values: mem((m) => m.rssKiB) },
        { metric: 'idle PSS, median (MiB)', values: mem((m) => m.pssKiB) },
        { metric: 'idle USS, median (MiB)', values: mem((m) => m.ussKiB) },
        { metric: 'peak RSS, median (MiB)', values: mem((m) => m.peakRssKiB) },
        { metric: 'stop: SIGTERM → exit, median (ms)', values: per((s) => median(s.stopMs)) },
      ],
    });
  },
};
