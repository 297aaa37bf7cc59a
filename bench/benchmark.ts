// What a benchmark is: a named async function that measures, prints its own
// tables, and registers everything it starts with the run's Cleanup.
// Adding one is a file in bench/benchmarks/ exporting a Benchmark, listed in run.ts.

import type { Cleanup } from './lib/cleanup.js';

export interface BenchContext {
  /** Measured repetitions per subject (--runs). */
  runs: number;
  /** Unrecorded repetitions per subject before measuring (--warmup). */
  warmup: number;
  /** Profile the daemons and shims a benchmark starts, where it supports that (--cpu-prof). */
  cpuProf: boolean;
  /** Undone after the benchmark, also when it fails or the run is interrupted. */
  cleanup: Cleanup;
  /** Progress on stderr, so stdout holds only the results. */
  progress(msg: string): void;
}

export interface Benchmark {
  name: string;
  /** One line for --list. */
  description: string;
  run(ctx: BenchContext): Promise<void>;
}
