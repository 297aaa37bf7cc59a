// Where the time of each operation goes, from the daemon's own traces: berthd
// runs with `[tracing] endpoint` pointing at a collector in this process, and
// every gRPC call it serves becomes a root span, with the steps inside it (the
// daemon's, and the shim's and runc's, carried over ttrpc) as descendants.
//
//  - the containerd task API: `run --rm /bin/true` as the tasks benchmark does
//    it (container create, task create, start, exit, task delete, container delete);
//  - the CRI pod cycle: RunPodSandbox → CreateContainer → StartContainer →
//    ExecSync → StopContainer → RemoveContainer → StopPodSandbox → RemovePodSandbox.
//
// Per operation, a table of its steps nested as the spans are: median over the
// runs and the share of the parent's median. containerd 2.x exports its spans
// too (OTLP/HTTP protobuf, configured by OTEL_* variables) and runs the same
// task cycle; its CRI is off in the benchmarks' config, and Debian's 1.6 only
// takes a collector from its config file, which the shared launcher writes.
//
// --cpu-prof: berthd and its shims also run with Node's --cpu-prof, and the
// functions with the most self time are listed per process kind. Profiling
// slows both down, so the step times of such a run are not comparable.

import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Benchmark, BenchContext } from '../benchmark.js';
import { podConfig } from '../../test/helpers/cri.js';
import { busyboxImage, pauseImage } from '../../test/fixtures/image-builder.js';
import { CNI_BIN, CONTAINER_IMAGE } from '../lib/cri-hosts.js';
import { cpuProfEnv, printTopFunctions, readProfiles } from '../lib/cpu-profiles.js';
import { type CollectedSpan, startCollector } from '../lib/otlp-collector.js';
import { haveContainerd2 } from '../lib/paths.js';
import { printStepTables, stepTrees } from '../lib/span-steps.js';
import {
  CONTAINERD2_RUNC_SHIM,
  type TaskHost,
  benchId,
  benchRootfs,
  startTaskHost,
} from '../lib/task-hosts.js';
import { tempDir } from '../lib/tempdir.js';
import { type TracedBerthd, startTracedBerthd } from '../lib/traced-berthd.js';
import { runRm } from './tasks.js';

const TASK_OPS = [
  'containerd.services.containers.v1.Containers/Create',
  'containerd.services.tasks.v1.Tasks/Create',
  'containerd.services.tasks.v1.Tasks/Start',
  'containerd.services.tasks.v1.Tasks/Delete',
  'containerd.services.containers.v1.Containers/Delete',
];
const CRI_OPS = [
  'RunPodSandbox',
  'CreateContainer',
  'StartContainer',
  'ExecSync',
  'StopContainer',
  'RemoveContainer',
  'StopPodSandbox',
  'RemovePodSandbox',
].map((m) => `runtime.v1.RuntimeService/${m}`);

/** `containerd.services.tasks.v1.Tasks/Create` → `Tasks/Create`. */
const shortName = (name: string) => name.replace(/^.*\.(?=[^.]+\/)/, '');
/** Exporters post about once a second: this long without a span means all are in. */
const QUIET_MS = 2500;
const SETTLE_MAX_MS = 20_000;
const nowNs = () => BigInt(Date.now()) * 1_000_000n;

let podSeq = 0;

/** One CRI pod cycle with a `sleep` container and an ExecSync in it. */
async function podCycle(b: TracedBerthd): Promise<void> {
  const n = ++podSeq;
  const config = podConfig(`steps-${process.pid}-${n}`, path.join(b.daemon.dir, 'logs', String(n)));
  const rt = b.cri.runtime;
  const { podSandboxId } = await rt.runPodSandbox({ config });
  const { containerId } = await rt.createContainer({
    podSandboxId,
    config: {
      metadata: { name: 'app' },
      image: { image: CONTAINER_IMAGE },
      command: ['sleep', '3600'],
      logPath: 'app.log',
    },
    sandboxConfig: config,
  });
  await rt.startContainer({ containerId });
  const r = await rt.execSync({ containerId, cmd: ['true'], timeout: 30 });
  if (r.exitCode !== 0) throw new Error(`ExecSync true exited with ${r.exitCode}`);
  await rt.stopContainer({ containerId, timeout: 0 });
  await rt.removeContainer({ containerId });
  await rt.stopPodSandbox({ podSandboxId });
  await rt.removePodSandbox({ podSandboxId });
}

/** Warm-up runs, then the measured ones; returns when the measured ones began (span clock). */
async function repeat(
  ctx: BenchContext,
  label: string,
  cycle: (i: number) => Promise<void>,
): Promise<bigint> {
  for (let i = 0; i < ctx.warmup; i++) {
    ctx.progress(`steps: ${label} warm-up ${i + 1}/${ctx.warmup}`);
    await cycle(i);
  }
  const from = nowNs();
  for (let i = 0; i < ctx.runs; i++) {
    ctx.progress(`steps: ${label} ${i + 1}/${ctx.runs}`);
    await cycle(ctx.warmup + i);
  }
  return from;
}

async function berthSteps(
  ctx: BenchContext,
  rootfs: string,
  endpoint: string,
  profDir: string | undefined,
): Promise<{ tasksFrom: bigint; criFrom: bigint | undefined }> {
  const haveCni = existsSync(path.join(CNI_BIN, 'bridge'));
  if (!haveCni) process.stdout.write(`(steps: CRI cycle skipped: no CNI plugins in ${CNI_BIN})\n`);
  ctx.progress('steps: starting berthd');
  const b = await startTracedBerthd(ctx.cleanup, {
    endpoint,
    images: [await pauseImage(), await busyboxImage()],
    rootfs,
    octet: 230,
    env: profDir ? cpuProfEnv(profDir) : undefined,
  });
  try {
    const tasksFrom = await repeat(ctx, 'berthd tasks', (i) =>
      runRm(b.tasks, benchId(0, 'steps', i)),
    );
    const criFrom = haveCni ? await repeat(ctx, 'berthd CRI', () => podCycle(b)) : undefined;
    return { tasksFrom, criFrom };
  } finally {
    // Stopping the daemon flushes its spans (and its profile, when profiling).
    ctx.progress('steps: stopping berthd');
    await b.dispose();
  }
}

async function containerd2Steps(ctx: BenchContext, rootfs: string, endpoint: string) {
  ctx.progress('steps: starting containerd 2.x');
  const host: TaskHost = await startTaskHost(CONTAINERD2_RUNC_SHIM, rootfs, ctx.cleanup, {
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_SERVICE_NAME: 'containerd',
      OTEL_TRACES_SAMPLER: 'always_on',
    },
  });
  try {
    return await repeat(ctx, 'containerd 2.x tasks', (i) => runRm(host, benchId(1, 'steps', i)));
  } finally {
    ctx.progress('steps: stopping containerd 2.x');
    await host.dispose();
  }
}

export const stepsBenchmark: Benchmark = {
  name: 'steps',
  description:
    'where the time goes: per-step span breakdown of task and CRI pod operations (berthd; containerd 2.x tasks); --cpu-prof for profiles',
  async run(ctx) {
    const collector = await startCollector(ctx.cleanup);
    ctx.progress('steps: building the rootfs');
    const rootfs = await benchRootfs(ctx.cleanup);
    const profDir = ctx.cpuProf ? (await tempDir(ctx.cleanup, 'berth-cpuprof-')).path : undefined;

    const berth = await berthSteps(ctx, rootfs, collector.endpoint, profDir);
    await collector.settle(QUIET_MS, SETTLE_MAX_MS);
    const berthSpans: CollectedSpan[] = collector.spans.splice(0);
    const runsNote = `median of ${ctx.runs} runs${profDir ? ', under --cpu-prof' : ''}`;
    printStepTables(
      `berthd + berth-shim: containerd task API, run --rm /bin/true (${runsNote})`,
      stepTrees(berthSpans, TASK_OPS, berth.tasksFrom),
      TASK_OPS,
      shortName,
    );
    if (berth.criFrom !== undefined) {
      printStepTables(
        `berthd + berth-shim: CRI pod cycle (${runsNote})`,
        stepTrees(berthSpans, CRI_OPS, berth.criFrom),
        CRI_OPS,
        shortName,
      );
    }

    if (haveContainerd2()) {
      const from = await containerd2Steps(ctx, rootfs, collector.endpoint);
      await collector.settle(QUIET_MS, SETTLE_MAX_MS);
      printStepTables(
        `containerd 2.x + runc-v2: containerd task API, run --rm /bin/true (median of ${ctx.runs} runs)`,
        stepTrees(collector.spans.splice(0), TASK_OPS, from),
        TASK_OPS,
        shortName,
      );
    } else {
      process.stdout.write('(steps: containerd 2.x not built: scripts/bench-tools.sh)\n');
    }
    if (collector.rejected > 0) {
      process.stdout.write(`(steps: ${collector.rejected} OTLP requests could not be decoded)\n`);
    }

    if (profDir) printTopFunctions(await readProfiles(profDir), 15);
    process.stdout.write('\n');
  },
};
