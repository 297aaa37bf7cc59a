// Shim start latency and idle memory: berth-shim against Debian's
// containerd-shim-runc-v2, and berth-shim's memory against an idle node process.
//
// Each shim is started the way a daemon starts it (`start` in a bundle, the
// tasks plugin's own invocation), timed until its first ttrpc Task/Connect
// answer, left idle for 1 s, measured, then Shutdown and `delete`d. Only one
// subject runs at a time (PSS splits shared pages among whoever maps them),
// in alternating order. berth-shim is started three ways: containerd's
// (`start` launches the server and exits), berthd's inline start (`start`
// becomes the server) and berthd's spare (a `start` launched ahead of time is
// handed its arguments; berthd launches the replacement after the start, so
// none runs here).

import { rmdirSync } from 'node:fs';
import path from 'node:path';
import type { Benchmark, BenchContext } from '../benchmark.js';
import { EventSink } from '../lib/event-sink.js';
import { IDLE_NODE_SCRIPT, startIdleNode, timeNodeStartup } from '../lib/idle-node.js';
import { MiB, type MemoryUsage, readMemory } from '../lib/memory.js';
import { BERTH_SHIM_WRAPPER, CONTAINERD, RUNC_SHIM, haveRuncShim } from '../lib/paths.js';
import { countProcessesOf, sleep } from '../lib/processes.js';
import { type ShimHost, type StartMode, launchShim, shimCommand } from '../lib/shims.js';
import { ShimSpares } from '../../core/runtime/shim-spares.js';
import { median, summarize } from '../lib/stats.js';
import { printComparison, ratio } from '../lib/table.js';
import { tempDir } from '../lib/tempdir.js';

const SETTLE_MS = 1000;
const NAMESPACE = 'berth-bench';
/** Where the shims' `delete` makes runc create a state directory for the namespace. */
const RUNC_STATE_ROOTS = ['/run/berth/runc', '/run/containerd/runc'];

/** The targets for berth-shim; printed, not asserted. */
const TARGET_PSS_VS_NODE = 1.25;
const TARGET_READY_MEDIAN_MS = 60;

type Subject = 'berth-shim' | 'berth-shim inline' | 'berth-shim spare' | 'runc-v2' | 'idle node';

interface Samples {
  readyMs: number[];
  startMs: number[];
  connectMs: number[];
  deleteMs: number[];
  memory: MemoryUsage[];
  /** Node processes on the host when the memory was read (they share node's pages). */
  nodeProcesses: number[];
}

const emptySamples = (): Samples => ({
  readyMs: [],
  startMs: [],
  connectMs: [],
  deleteMs: [],
  memory: [],
  nodeProcesses: [],
});

const binaries: Record<Exclude<Subject, 'idle node'>, string> = {
  'berth-shim': BERTH_SHIM_WRAPPER,
  'berth-shim inline': BERTH_SHIM_WRAPPER,
  'berth-shim spare': BERTH_SHIM_WRAPPER,
  'runc-v2': RUNC_SHIM,
};

/** How long a spare gets to finish Node's start-up before it is used. */
const SPARE_BOOT_MS = 1000;

let seq = 0;

async function once(
  subject: Subject,
  host: ShimHost,
  ctx: BenchContext,
  s?: Samples,
): Promise<void> {
  if (subject === 'idle node') {
    const node = await startIdleNode(ctx.cleanup);
    try {
      await sleep(SETTLE_MS);
      s?.memory.push(await readMemory(node.pid));
      s?.nodeProcesses.push(countProcessesOf(process.execPath));
    } finally {
      await node.stop();
    }
    return;
  }
  const id = `bench-${process.pid}-${++seq}`;
  const command = shimCommand(binaries[subject]);
  const mode: StartMode = {};
  let stopSpares: (() => Promise<void>) | undefined;
  if (subject === 'berth-shim inline') mode.inline = true;
  if (subject === 'berth-shim spare') {
    const spares = new ShimSpares({ count: 1, env: process.env });
    stopSpares = ctx.cleanup.defer('stop spare shims', () => spares.close()).now;
    spares.refill(command); // launches the spare
    await sleep(SPARE_BOOT_MS);
    mode.spare = spares.take(command);
    if (!mode.spare) throw new Error('the spare shim exited before it was used');
  }
  let shim;
  try {
    shim = await launchShim(command, host, id, ctx.cleanup, mode);
  } finally {
    await stopSpares?.(); // nothing idle left to share pages while memory is read
  }
  let memory: MemoryUsage;
  try {
    await sleep(SETTLE_MS);
    memory = await readMemory(shim.pid);
    s?.nodeProcesses.push(countProcessesOf(process.execPath));
  } catch (err) {
    await shim.stop();
    throw err;
  }
  const { deleteMs } = await shim.stop();
  if (s) {
    s.readyMs.push(shim.readyMs);
    s.startMs.push(shim.startMs);
    s.connectMs.push(shim.readyMs - shim.startMs);
    s.deleteMs.push(deleteMs);
    s.memory.push(memory);
  }
}

const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');

export const shimBenchmark: Benchmark = {
  name: 'shim',
  description:
    'shim start to first ttrpc answer and idle PSS: berth-shim vs containerd-shim-runc-v2 and an idle node',
  async run(ctx) {
    const dir = await tempDir(ctx.cleanup, 'shim-bench-');
    const sink = await EventSink.listen(path.join(dir.path, 'd.sock.ttrpc'));
    ctx.cleanup.defer('close event sink', () => sink.close());
    ctx.cleanup.defer('remove runc state directories of the namespace', () => {
      for (const root of RUNC_STATE_ROOTS) {
        try {
          rmdirSync(path.join(root, NAMESPACE)); // only when empty: nothing of anyone else's
        } catch {
          /* absent or in use */
        }
      }
    });
    const host: ShimHost = {
      dir: dir.path,
      namespace: NAMESPACE,
      address: path.join(dir.path, 'd.sock'),
      ttrpcAddress: sink.socket,
      publishBinary: CONTAINERD,
    };

    const berth: Subject[] = ['berth-shim', 'berth-shim inline', 'berth-shim spare'];
    const subjects: Subject[] = haveRuncShim()
      ? [...berth, 'runc-v2', 'idle node']
      : [...berth, 'idle node'];
    const samples = new Map<Subject, Samples>(subjects.map((k) => [k, emptySamples()]));
    for (let i = 0; i < ctx.warmup; i++) {
      for (const k of subjects) {
        ctx.progress(`shim: warm-up ${k}`);
        await once(k, host, ctx);
      }
    }
    for (let i = 0; i < ctx.runs; i++) {
      for (const k of i % 2 === 0 ? subjects : [...subjects].reverse()) {
        ctx.progress(`shim: run ${i + 1}/${ctx.runs} ${k}`);
        await once(k, host, ctx, samples.get(k));
      }
    }

    const nodeStartMs: number[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      ctx.progress(`shim: node -e 0 ${i + 1}/${ctx.runs}`);
      nodeStartMs.push(await timeNodeStartup());
    }

    const shims = subjects.filter((k) => k !== 'idle node');
    const timing = (f: (s: Samples) => number) => shims.map((k) => f(samples.get(k)!));
    const runcCol = shims.indexOf('runc-v2');
    printComparison({
      title: `Shim start (${ctx.runs} runs each; berth-shim via ${path.basename(BERTH_SHIM_WRAPPER)}: containerd's two-process start, berthd's inline start, berthd's spare)`,
      subjects: shims,
      ratios:
        runcCol >= 0
          ? [
              [0, runcCol],
              [2, runcCol],
            ]
          : [],
      rows: [
        {
          metric: 'start → first Connect answer, median (ms)',
          values: timing((s) => median(s.readyMs)),
        },
        {
          metric: 'start → first Connect answer, p90 (ms)',
          values: timing((s) => summarize(s.readyMs).p90),
        },
        {
          metric: 'start → first Connect answer, min (ms)',
          values: timing((s) => summarize(s.readyMs).min),
        },
        {
          metric: '`start` command until exit, median (ms)',
          values: timing((s) => median(s.startMs)),
        },
        {
          metric: 'dial + Connect round trip, median (ms)',
          values: timing((s) => median(s.connectMs)),
        },
        { metric: '`delete` command, median (ms)', values: timing((s) => median(s.deleteMs)) },
      ],
    });

    // One berth-shim column: the three starts leave the same server behind.
    const memSubjects = subjects.filter((k) => k === 'berth-shim' || !berth.includes(k));
    const mem = (f: (m: MemoryUsage) => number) =>
      memSubjects.map((k) => MiB(median(samples.get(k)!.memory.map(f))));
    const node = memSubjects.indexOf('idle node');
    const runc = memSubjects.indexOf('runc-v2');
    printComparison({
      title: `Idle shim memory (MiB, median of ${ctx.runs}, ${SETTLE_MS} ms after Connect; idle node = node -e '${IDLE_NODE_SCRIPT}')`,
      subjects: memSubjects,
      ratios:
        runc >= 0
          ? [
              [0, node],
              [0, runc],
            ]
          : [[0, node]],
      rows: [
        { metric: 'RSS', values: mem((m) => m.rssKiB) },
        { metric: 'PSS', values: mem((m) => m.pssKiB) },
        { metric: 'USS (private)', values: mem((m) => m.ussKiB) },
        { metric: 'peak RSS', values: mem((m) => m.peakRssKiB) },
      ],
    });

    const pss = (k: Subject) => median(samples.get(k)!.memory.map((m) => m.pssKiB));
    const pssRatio = ratio(pss('berth-shim'), pss('idle node'))!;
    const ready = (k: Subject) => median(samples.get(k)!.readyMs);
    const readyLine = (k: Subject, how: string) =>
      `  start → first answer median, ${how} = ${ready(k).toFixed(1)} ms (target < ${TARGET_READY_MEDIAN_MS} ms): ${verdict(ready(k) < TARGET_READY_MEDIAN_MS)}`;
    process.stdout.write(
      [
        '',
        'Targets for berth-shim (reported, not enforced):',
        `  PSS / idle node PSS = ${pssRatio.toFixed(2)} (target ≤ ${TARGET_PSS_VS_NODE}): ${verdict(pssRatio <= TARGET_PSS_VS_NODE)}`,
        readyLine('berth-shim spare', "berthd's spare (what berthd does by default)"),
        readyLine('berth-shim inline', "berthd's inline start (shim_spares = 0)"),
        readyLine('berth-shim', "containerd's two-process start"),
        `  node processes on the host while memory was read (they share node's pages in PSS): median ${median([...samples.get('berth-shim')!.nodeProcesses, ...samples.get('idle node')!.nodeProcesses])}`,
        `  for reference, node -e 0 spawn → exit on this machine: median ${median(nodeStartMs).toFixed(1)} ms, min ${summarize(nodeStartMs).min.toFixed(1)} ms`,
        sink.topics.length > 0 ? `  events received from shims: ${sink.topics.join(', ')}` : '',
        '',
      ].join('\n'),
    );
  },
};
