// Benchmark runner: `node dist/bench/run.js [name...] [--runs N] [--warmup N] [--list]`.
// Runs every registered benchmark, or the named ones, one after another; each
// cleans up after itself, also on failure or Ctrl-C.

import { parseArgs } from 'node:util';
import type { Benchmark, BenchContext } from './benchmark.js';
import { criStreamingBenchmark } from './benchmarks/cri-streaming.js';
import { criBenchmark } from './benchmarks/cri.js';
import { critestBenchmark } from './benchmarks/critest.js';
import { daemonBenchmark } from './benchmarks/daemon.js';
import { imagesBenchmark } from './benchmarks/images.js';
import { scaleBenchmark } from './benchmarks/scale.js';
import { shimBenchmark } from './benchmarks/shim.js';
import { soakBenchmark } from './benchmarks/soak.js';
import { stepsBenchmark } from './benchmarks/steps.js';
import { tasksBenchmark } from './benchmarks/tasks.js';
import { Cleanup } from './lib/cleanup.js';
import { describeHost, loadLine } from './lib/host.js';
import { requireBuild } from './lib/paths.js';

/** Every benchmark, in the order a full run executes them. */
const BENCHMARKS: Benchmark[] = [
  daemonBenchmark,
  shimBenchmark,
  tasksBenchmark,
  scaleBenchmark,
  criStreamingBenchmark,
  criBenchmark,
  critestBenchmark,
  imagesBenchmark,
  soakBenchmark,
  stepsBenchmark,
];

const USAGE = `usage: node dist/bench/run.js [name...] [--runs N] [--warmup N] [--cpu-prof] [--list]

  name        benchmarks to run (default: all): ${BENCHMARKS.map((b) => b.name).join(', ')}
  --runs N    measured repetitions per subject (default 10)
  --warmup N  unrecorded repetitions per subject first (default 1)
  --cpu-prof  also profile berthd and its shims (benchmarks that support it: steps)
  --list      list the benchmarks and exit
`;

function positiveInt(flag: string, value: string | undefined, fallback: number, min: number) {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`${flag} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  }
  return n;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      runs: { type: 'string' },
      warmup: { type: 'string' },
      'cpu-prof': { type: 'boolean' },
      list: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.list) {
    for (const b of BENCHMARKS) process.stdout.write(`${b.name.padEnd(10)} ${b.description}\n`);
    return 0;
  }
  const runs = positiveInt('--runs', values.runs, 10, 1);
  const warmup = positiveInt('--warmup', values.warmup, 1, 0);
  const unknown = positionals.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) throw new Error(`unknown benchmark ${unknown.join(', ')}\n\n${USAGE}`);
  const selected =
    positionals.length > 0 ? BENCHMARKS.filter((b) => positionals.includes(b.name)) : BENCHMARKS;
  if (process.getuid?.() !== 0) {
    process.stderr.write('warning: not root; shims and daemons may fail to start\n');
  }
  requireBuild();

  process.stdout.write(`${describeHost()}\nruns: ${runs}, warm-up: ${warmup}; ${loadLine()}\n`);
  let failed = 0;
  for (const bench of selected) {
    const cleanup = new Cleanup();
    // Ctrl-C or SIGTERM: undo what this benchmark started before leaving.
    const interrupted = (sig: NodeJS.Signals) => {
      process.stderr.write(`\n${sig}: cleaning up\n`);
      void cleanup.run().finally(() => process.exit(130));
    };
    process.once('SIGINT', interrupted);
    process.once('SIGTERM', interrupted);
    const ctx: BenchContext = {
      runs,
      warmup,
      cpuProf: values['cpu-prof'] ?? false,
      cleanup,
      progress: (msg) => {
        if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${msg}`);
      },
    };
    const t0 = Date.now();
    try {
      await bench.run(ctx);
    } catch (err) {
      failed++;
      process.stderr.write(`\nbenchmark ${bench.name} failed: ${(err as Error).stack ?? err}\n`);
    } finally {
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
      await cleanup.run();
      process.off('SIGINT', interrupted);
      process.off('SIGTERM', interrupted);
    }
    process.stdout.write(
      `(${bench.name}: ${((Date.now() - t0) / 1000).toFixed(1)} s; ${loadLine()})\n`,
    );
  }
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
