// critest's own benchmark suite (`critest -benchmark`, stock cri-tools built by
// scripts/go-tools.sh) against berthd's CRI, Debian's containerd 1.6 CRI and,
// when built, containerd 2.x's, one after the other, each with --runs samples
// of every lifecycle benchmark: pods (create, status, stop, remove),
// containers (create, start, status, stop, remove), images (pull, status,
// remove; list). Images come from a local docker-registry serving the critest
// stand-ins (test/critest/), through the hosts.toml files every daemon reads.
// Prints the median of each operation and Berth's ratio to the better
// containerd on each row.

import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Benchmark, BenchContext } from '../benchmark.js';
import { type CriHost, measureEachCriSubject } from '../lib/cri-hosts.js';
import { summarize } from '../lib/stats.js';
import { printComparison } from '../lib/table.js';
import { pushStandIns, writeMirrorHosts } from '../../test/critest/local-registry.js';
import { criTools } from '../../test/helpers/cri-tools.js';
import { haveDockerRegistry, startRegistry } from '../../test/helpers/registry.js';

const run = promisify(execFile);

/** critest's result files and the operations each times, in its order. */
const RESULT_FILES = [
  'pod_benchmark_data.json',
  'container_benchmark_data.json',
  'image_lifecycle_benchmark_data.json',
  'image_listing_benchmark_data.json',
];

interface ResultsFile {
  operationsNames: string[];
  datapoints: { operationsDurationsNs: number[] }[] | null;
}

/** Milliseconds per operation, in the order critest reports them. */
type Timings = Map<string, number[]>;

async function measure(ctx: BenchContext, h: CriHost, critest: string, local: string) {
  await writeMirrorHosts(path.join(h.dir, 'certs.d'), local);
  const out = path.join(h.dir, 'critest-benchmark');
  await mkdir(out, { recursive: true });
  const params = path.join(h.dir, 'critest-benchmark.yaml');
  await writeFile(
    params,
    ['containers', 'pods', 'images']
      .flatMap((kind) => [`${kind}Number: ${ctx.runs}`, `${kind}NumberParallel: 1`])
      .join('\n'),
  );
  ctx.progress(`${h.label}: critest -benchmark`);
  const endpoint = `unix://${h.socket}`;
  try {
    await run(
      critest,
      [
        '-benchmark',
        `--runtime-endpoint=${endpoint}`,
        `--image-endpoint=${endpoint}`,
        `-benchmarking-params-file=${params}`,
        `-benchmarking-output-dir=${out}`,
        '-ginkgo.no-color',
      ],
      { env: { ...process.env, TMPDIR: h.dir }, maxBuffer: 64 << 20 },
    );
  } catch (err) {
    const e = err as { stdout?: string; message: string };
    throw new Error(
      `critest -benchmark against ${h.label} failed: ${e.message}\n${e.stdout ?? ''}`,
    );
  }
  const timings: Timings = new Map();
  for (const file of RESULT_FILES) {
    const r = JSON.parse(await readFile(path.join(out, file), 'utf8')) as ResultsFile;
    r.operationsNames.forEach((op, i) =>
      timings.set(
        op,
        (r.datapoints ?? []).map((d) => d.operationsDurationsNs[i]! / 1e6),
      ),
    );
  }
  return timings;
}

export const critestBenchmark: Benchmark = {
  name: 'critest',
  description:
    "critest -benchmark (cri-tools' pod, container and image lifecycles) — berthd vs containerd 1.6 and 2.x",
  async run(ctx) {
    const tools = criTools();
    if ('missing' in tools) {
      process.stdout.write(`(critest: skipped: ${tools.missing})\n`);
      return;
    }
    if (!haveDockerRegistry) {
      process.stdout.write('(critest: skipped: docker-registry is not installed)\n');
      return;
    }
    ctx.progress('critest: local registry with the stand-in images');
    const registry = await startRegistry();
    ctx.cleanup.defer('stop the stand-in registry', () => registry.dispose());
    await pushStandIns(registry.host);
    const result = await measureEachCriSubject(ctx, 'critest', 210, (h) =>
      measure(ctx, h, tools.critest, registry.host),
    );
    if (!result) return;
    const { labels, best, results } = result;
    const operations = [...results[0]!.keys()];
    printComparison({
      title: `critest -benchmark: median ms per operation (${ctx.runs} samples each)`,
      subjects: labels,
      ratios: [],
      best,
      rows: operations.map((op) => ({
        metric: op,
        values: results.map((t) => summarize(t.get(op) ?? []).median),
      })),
    });
  },
};
