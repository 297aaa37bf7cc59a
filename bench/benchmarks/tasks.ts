// Task latency through each daemon's gRPC API, with Berth's client library
// driving berthd and containerd identically:
//
//  - `run --rm /bin/true`: create container → create task (stdio FIFOs, as
//    `berth run` and `ctr run` attach them) → start → wait for the exit →
//    delete task → delete container;
//  - `tasks start`: create task + start on an existing container (the task is
//    then killed and deleted, untimed).
//
// Every daemon of the run is up for the whole benchmark and the subjects take
// turns, in alternating order, so drift in the machine's load hits all alike.

import { performance } from 'node:perf_hooks';
import type { Benchmark, BenchContext } from '../benchmark.js';
import type { ContainerHandle } from '../../client/container.js';
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

export interface RunSamples {
  total: number[];
  createContainer: number[];
  createTask: number[];
  start: number[];
  exit: number[];
  deleteTask: number[];
  deleteContainer: number[];
}

interface StartSamples {
  total: number[];
  createTask: number[];
  start: number[];
}

const emptyRun = (): RunSamples => ({
  total: [],
  createContainer: [],
  createTask: [],
  start: [],
  exit: [],
  deleteTask: [],
  deleteContainer: [],
});
const emptyStart = (): StartSamples => ({ total: [], createTask: [], start: [] });

/** `run --rm /bin/true`, timed step by step. */
export async function runRm(host: TaskHost, id: string, s?: RunSamples): Promise<void> {
  const t0 = performance.now();
  const ctr = await host.newContainer(id, ['/bin/true']);
  const t1 = performance.now();
  const task = await ctr.newTask({ stdio: true, fifoRoot: host.fifoRoot });
  const t2 = performance.now();
  host.trackPid(task.pid);
  task.io!.stdout.resume();
  task.io!.stderr.resume();
  const exited = task.wait();
  await task.start();
  const t3 = performance.now();
  const { exitStatus } = await exited;
  const t4 = performance.now();
  await task.delete();
  const t5 = performance.now();
  await ctr.delete();
  const t6 = performance.now();
  if (exitStatus !== 0) throw new Error(`${id}: /bin/true exited with ${exitStatus}`);
  if (s) {
    s.total.push(t6 - t0);
    s.createContainer.push(t1 - t0);
    s.createTask.push(t2 - t1);
    s.start.push(t3 - t2);
    s.exit.push(t4 - t3);
    s.deleteTask.push(t5 - t4);
    s.deleteContainer.push(t6 - t5);
  }
}

/** Create task + start on an existing container; the kill and delete after are not timed. */
async function tasksStart(host: TaskHost, ctr: ContainerHandle, s?: StartSamples): Promise<void> {
  const t0 = performance.now();
  const task = await ctr.newTask({ stdio: false });
  const t1 = performance.now();
  host.trackPid(task.pid);
  await task.start();
  const t2 = performance.now();
  await host.destroyTask(task);
  if (s) {
    s.total.push(t2 - t0);
    s.createTask.push(t1 - t0);
    s.start.push(t2 - t1);
  }
}

export const tasksBenchmark: Benchmark = {
  name: 'tasks',
  description:
    'run --rm /bin/true and tasks start latency: berthd and containerd, each with berth-shim and runc-v2',
  async run(ctx: BenchContext) {
    const subjects: TaskSubject[] = availableSubjects();
    ctx.progress('tasks: building the rootfs');
    const rootfs = await benchRootfs(ctx.cleanup);
    const hosts: TaskHost[] = [];
    for (const subject of subjects) {
      ctx.progress(`tasks: starting ${subject.daemon} for ${subject.label}`);
      hosts.push(await startTaskHost(subject, rootfs, ctx.cleanup));
    }
    const startContainers = await Promise.all(
      hosts.map((h, i) => h.newContainer(benchId(i, 'start', 0), ['/bin/sleep', '3600'])),
    );

    const runs = hosts.map(emptyRun);
    const starts = hosts.map(emptyStart);
    let n = 0;
    for (let i = 0; i < ctx.warmup + ctx.runs; i++) {
      const measured = i >= ctx.warmup;
      const order = hosts.map((_, k) => k);
      if (i % 2 === 1) order.reverse();
      for (const k of order) {
        const what = measured ? `run ${i - ctx.warmup + 1}/${ctx.runs}` : 'warm-up';
        ctx.progress(`tasks: ${what} ${subjects[k]!.label}`);
        await runRm(hosts[k]!, benchId(k, 'run', ++n), measured ? runs[k] : undefined);
        await tasksStart(hosts[k]!, startContainers[k]!, measured ? starts[k] : undefined);
      }
    }

    const row = (metric: string, values: number[]) => ({ metric, values });
    const med = (f: (s: RunSamples) => number[]) => runs.map((s) => summarize(f(s)).median);
    printTaskComparison(
      `run --rm /bin/true (${ctx.runs} runs each; create container → create task with stdio FIFOs → start → exit → delete task → delete container), ms`,
      subjects,
      [
        row(
          'total, median',
          med((s) => s.total),
        ),
        row(
          'total, p90',
          runs.map((s) => summarize(s.total).p90),
        ),
        row(
          'total, min',
          runs.map((s) => summarize(s.total).min),
        ),
        row(
          '  create container, median',
          med((s) => s.createContainer),
        ),
        row(
          '  create task, median',
          med((s) => s.createTask),
        ),
        row(
          '  start, median',
          med((s) => s.start),
        ),
        row(
          '  start → exit reported, median',
          med((s) => s.exit),
        ),
        row(
          '  delete task, median',
          med((s) => s.deleteTask),
        ),
        row(
          '  delete container, median',
          med((s) => s.deleteContainer),
        ),
      ],
    );
    printTaskComparison(
      `tasks start (${ctx.runs} runs each; create task + start on an existing container, no stdio), ms`,
      subjects,
      [
        row(
          'create + start, median',
          starts.map((s) => summarize(s.total).median),
        ),
        row(
          'create + start, p90',
          starts.map((s) => summarize(s.total).p90),
        ),
        row(
          'create + start, min',
          starts.map((s) => summarize(s.total).min),
        ),
        row(
          '  create task, median',
          starts.map((s) => summarize(s.createTask).median),
        ),
        row(
          '  start, median',
          starts.map((s) => summarize(s.start).median),
        ),
      ],
    );
    process.stdout.write('\n');

    for (const h of hosts.reverse()) {
      ctx.progress(`tasks: cleaning up ${h.subject.label}`);
      await h.dispose();
    }
  },
};
