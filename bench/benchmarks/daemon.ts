// Daemon cold start and idle memory: berthd against Debian's containerd.
//
// Cold start is spawn → first answered Version RPC (the same grpc-js call for
// both). Idle memory is read 1 s after that. Stop is SIGTERM → exit. Daemons
// run one at a time, in alternating order, each in fresh temporary directories.
// berthd is measured in both builds when the bundle exists: as tsc compiled it
// (dist/cmd/berthd.js, one file per module) and bundled with a code cache
// (dist/berthd.cjs, from cmd/build.mjs).

import { existsSync } from 'node:fs';
import type { Benchmark, BenchContext } from '../benchmark.js';
import path from 'node:path';
import { type DaemonKind, startDaemon } from '../lib/daemons.js';
import { MiB, type MemoryUsage, readMemory } from '../lib/memory.js';
import { BERTHD_BUNDLE, BERTHD_MODULES, REPO_ROOT, haveContainerd } from '../lib/paths.js';
import { sleep } from '../lib/processes.js';
import { median, summarize } from '../lib/stats.js';
import { printComparison } from '../lib/table.js';

const SETTLE_MS = 1000;

interface Subject {
  label: string;
  kind: DaemonKind;
  /** berthd's script. */
  script?: string;
}

function subjects(): Subject[] {
  const out: Subject[] = [{ label: 'berthd (modules)', kind: 'berthd', script: BERTHD_MODULES }];
  if (existsSync(BERTHD_BUNDLE)) {
    out.push({ label: 'berthd (bundle)', kind: 'berthd', script: BERTHD_BUNDLE });
  }
  if (haveContainerd()) out.push({ label: 'containerd', kind: 'containerd' });
  return out;
}

interface Samples {
  readyMs: number[];
  cpuMs: number[];
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

async function once(subject: Subject, ctx: BenchContext, s?: Samples): Promise<void> {
  const kind = subject.kind;
  const d = await startDaemon(kind, ctx.cleanup, { script: subject.script });
  try {
    await sleep(SETTLE_MS);
    const memory = await readMemory(d.pid);
    const stopMs = await d.stop();
    if (s) {
      s.readyMs.push(d.readyMs);
      s.cpuMs.push(d.cpuMsAtReady);
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
    const kinds = subjects();
    const samples = new Map<Subject, Samples>(
      kinds.map((k) => [
        k,
        { readyMs: [], cpuMs: [], stopMs: [], memory: [], selfReportedMs: [], version: '' },
      ]),
    );
    for (let i = 0; i < ctx.warmup; i++) {
      for (const k of kinds) {
        ctx.progress(`daemon: warm-up ${k.label}`);
        await once(k, ctx);
      }
    }
    for (let i = 0; i < ctx.runs; i++) {
      // Alternate who goes first, so drift on the machine does not favour one.
      for (const k of i % 2 === 0 ? kinds : [...kinds].reverse()) {
        ctx.progress(`daemon: run ${i + 1}/${ctx.runs} ${k.label}`);
        await once(k, ctx, samples.get(k));
      }
    }

    const per = (f: (s: Samples) => number | undefined) => kinds.map((k) => f(samples.get(k)!));
    const ready = (f: (x: ReturnType<typeof summarize>) => number) =>
      per((s) => f(summarize(s.readyMs)));
    const mem = (f: (m: MemoryUsage) => number) => per((s) => MiB(median(s.memory.map(f))));
    const ctrd = kinds.findIndex((k) => k.kind === 'containerd');
    const scripts = kinds
      .filter((k) => k.script)
      .map((k) => `${k.label} = ${path.relative(REPO_ROOT, k.script!)}`);
    printComparison({
      title: `Daemon (${ctx.runs} runs each; berthd ${samples.get(kinds[0]!)!.version}${ctrd >= 0 ? `, containerd ${samples.get(kinds[ctrd]!)!.version}` : ''}; ${scripts.join(', ')})`,
      subjects: kinds.map((k) => k.label),
      ratios: ctrd > 0 ? kinds.slice(0, ctrd).map((_, i): [number, number] => [i, ctrd]) : [],
      rows: [
        { metric: 'cold start → Version answered, median (ms)', values: ready((x) => x.median) },
        { metric: 'cold start → Version answered, p90 (ms)', values: ready((x) => x.p90) },
        { metric: 'cold start → Version answered, min (ms)', values: ready((x) => x.min) },
        {
          metric: 'CPU time used until answered, median (ms)',
          values: per((s) => median(s.cpuMs)),
        },
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
