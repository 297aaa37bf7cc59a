// Daemons that run containers, driven identically through Berth's client
// library (which speaks containerd's gRPC API, so it drives containerd too):
// berthd with berth-shim, berthd with Debian's runc shim, containerd with the
// runc shim and containerd with berth-shim. Comparing the first two with the
// third separates the daemon's cost from the shim's.
//
// Every container a benchmark creates goes through a TaskHost, which records
// it so that clean-up can undo it: through the daemon while it answers, and by
// pid (shims, container processes) plus `runc delete --force` when it does not.

import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { Client } from '../../client/client.js';
import type { ContainerHandle, TaskHandle } from '../../client/container.js';
import {
  generateDefaultSpec,
  withDefaultPathEnv,
  withProcessArgs,
  withRootfs,
} from '../../core/oci/index.js';
import { makeBusyboxRootfs } from '../../test/fixtures/busybox-rootfs.js';
import type { Cleanup } from './cleanup.js';
import { type DaemonHandle, type DaemonKind, startDaemon } from './daemons.js';
import { REPO_ROOT, haveContainerd, haveContainerd2, haveRuncShim } from './paths.js';
import { isAlive, sleep, terminate } from './processes.js';
import { printTable, ratio } from './table.js';
import { tempDir } from './tempdir.js';

export const BENCH_NAMESPACE = 'berth-bench';
export const BERTH_RUNTIME = 'io.containerd.berth.v2';
export const RUNC_RUNTIME = 'io.containerd.runc.v2';

/** runc state roots the two shims use (the namespace is appended). */
const RUNC_ROOTS = ['/run/berth/runc', '/run/containerd/runc'];
// containerd 2.x keeps runc state in the same default root as 1.6.
const CGROUP_ROOT = '/sys/fs/cgroup';

export interface TaskSubject {
  /** Column label, e.g. "berthd+berth-shim". */
  label: string;
  daemon: DaemonKind;
  runtime: string;
}

export const BERTHD_BERTH_SHIM: TaskSubject = {
  label: 'berthd+berth-shim',
  daemon: 'berthd',
  runtime: BERTH_RUNTIME,
};
export const BERTHD_RUNC_SHIM: TaskSubject = {
  label: 'berthd+runc-v2',
  daemon: 'berthd',
  runtime: RUNC_RUNTIME,
};
export const CONTAINERD_RUNC_SHIM: TaskSubject = {
  label: 'containerd+runc-v2',
  daemon: 'containerd',
  runtime: RUNC_RUNTIME,
};
export const CONTAINERD2_RUNC_SHIM: TaskSubject = {
  label: 'containerd2+runc-v2',
  daemon: 'containerd2',
  runtime: RUNC_RUNTIME,
};
export const CONTAINERD_BERTH_SHIM: TaskSubject = {
  label: 'containerd+berth-shim',
  daemon: 'containerd',
  runtime: BERTH_RUNTIME,
};

/** The subjects this host can run, in table order. */
export function availableSubjects(): TaskSubject[] {
  const out: TaskSubject[] = [BERTHD_BERTH_SHIM];
  if (haveRuncShim()) out.push(BERTHD_RUNC_SHIM);
  if (haveContainerd() && haveRuncShim()) out.push(CONTAINERD_RUNC_SHIM);
  if (haveContainerd2()) out.push(CONTAINERD2_RUNC_SHIM);
  if (haveContainerd()) out.push(CONTAINERD_BERTH_SHIM);
  return out;
}

/**
 * The ratio columns every task table prints, as [label, numerator, denominator]:
 * Berth against containerd, the daemon alone (both with the runc shim), and
 * the shim alone (both under berthd).
 */
export function taskRatios(subjects: TaskSubject[]): [string, number, number][] {
  const at = (s: TaskSubject) => subjects.indexOf(s);
  const pairs: [string, TaskSubject, TaskSubject][] = [
    ['Berth/containerd', BERTHD_BERTH_SHIM, CONTAINERD_RUNC_SHIM],
    ['Berth/containerd2', BERTHD_BERTH_SHIM, CONTAINERD2_RUNC_SHIM],
    ['daemon: berthd/containerd', BERTHD_RUNC_SHIM, CONTAINERD_RUNC_SHIM],
    ['shim: berth-shim/runc-v2', BERTHD_BERTH_SHIM, BERTHD_RUNC_SHIM],
  ];
  return pairs
    .filter(([, a, b]) => at(a) >= 0 && at(b) >= 0)
    .map(([label, a, b]) => [label, at(a), at(b)]);
}

/** A busybox root filesystem shared (read-only) by every container of a run. */
export async function benchRootfs(cleanup: Cleanup): Promise<string> {
  const dir = await tempDir(cleanup, 'rootfs-bench-');
  return makeBusyboxRootfs(path.join(dir.path, 'rootfs'));
}

export interface TaskHost {
  subject: TaskSubject;
  daemon: DaemonHandle;
  client: Client;
  /** Directory for stdio FIFOs. */
  fifoRoot: string;
  /** A container record running `args` in the shared rootfs with this subject's runtime. */
  newContainer(id: string, args: string[]): Promise<ContainerHandle>;
  /** Records a task's init pid, so clean-up can kill it should the daemon not answer. */
  trackPid(pid: number): void;
  /** Kills (SIGKILL), waits for and deletes a task; errors when the daemon fails to. */
  destroyTask(task: TaskHandle): Promise<void>;
  /** Pids of this daemon's shim servers (found by the daemon address in their arguments). */
  shimPids(): number[];
  /** Removes every task and container, stops the daemon and anything it left running. */
  dispose(): Promise<void>;
}

/** Pids of processes other than `except` with `value` among their arguments. */
export function processesWithArgument(value: string, except: number[] = []): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (except.includes(pid)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args.includes(value)) out.push(pid);
    } catch {
      /* gone */
    }
  }
  return out;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Every task and container of the namespace, through the daemon. */
async function removeAllThroughDaemon(client: Client): Promise<void> {
  const tasks = await client.tasks.list();
  await Promise.all(
    tasks.map(async (t) => {
      await client.tasks.kill(t.id, 9, { all: true }).catch(() => {});
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), 5000);
      await client.tasks.wait(t.id, '', abort.signal).catch(() => {});
      clearTimeout(timer);
      await client.tasks.delete(t.id);
    }),
  );
  for (const c of await client.containers.list()) await client.containers.delete(c.id);
}

/** `runc delete --force` of a container left in runc's state under `root`. */
export function runcForceDelete(root: string, id: string): Promise<void> {
  return new Promise((resolve) =>
    execFile('runc', ['--root', root, 'delete', '--force', id], { timeout: 10_000 }, () =>
      resolve(),
    ),
  );
}

/** Empty namespace directories the shims and runc leave behind (only when empty). */
export function removeEmptyNamespaceDirs(): void {
  const dirs = RUNC_ROOTS.map((r) => path.join(r, BENCH_NAMESPACE));
  try {
    for (const hierarchy of readdirSync(CGROUP_ROOT)) {
      dirs.push(path.join(CGROUP_ROOT, hierarchy, BENCH_NAMESPACE));
    }
    dirs.push(path.join(CGROUP_ROOT, BENCH_NAMESPACE));
  } catch {
    /* no cgroup filesystem */
  }
  for (const d of dirs) {
    try {
      rmdirSync(d);
    } catch {
      /* absent, not empty, or not ours to remove */
    }
  }
}

export async function startTaskHost(
  subject: TaskSubject,
  rootfs: string,
  cleanup: Cleanup,
  opts: { env?: NodeJS.ProcessEnv } = {},
): Promise<TaskHost> {
  const daemon = await startDaemon(subject.daemon, cleanup, {
    // containerd finds berth-shim as containerd-shim-berth-v2 on PATH; berthd
    // falls back to the bundle in dist/ by itself.
    extraPath: subject.daemon === 'containerd' ? [path.join(REPO_ROOT, 'bin')] : [],
    env: opts.env,
  });
  const client = new Client({
    address: daemon.socket,
    namespace: BENCH_NAMESPACE,
    timeoutMs: 30_000,
  });
  const fifoRoot = path.join(daemon.dir, 'fifo');
  const ids = new Set<string>();
  const pids = new Set<number>();
  const shimPids = () => processesWithArgument(daemon.socket, [daemon.pid, process.pid]);

  let closing = false;
  const dispose = async (): Promise<void> => {
    // An interrupted benchmark may still be creating containers: refuse new ones.
    closing = true;
    let failure: unknown;
    try {
      await withTimeout(removeAllThroughDaemon(client), 60_000, `${subject.label} clean-up`);
    } catch (err) {
      failure = err;
    }
    client.close();
    await daemon.stop(5000);
    // Shims outlive their daemon. Whatever it did not stop goes by pid; a second
    // look catches a shim whose `start` was still launching it.
    for (let pass = 0; pass < 2; pass++) {
      for (const pid of [...shimPids(), ...pids]) {
        if (isAlive(pid)) await terminate(pid, { signal: 'SIGKILL' });
      }
      await sleep(200);
    }
    // A container whose shim went that way is still in runc's state (and cgroups).
    for (const id of ids) {
      for (const root of [...RUNC_ROOTS, path.join(daemon.dir, 'state', 'runc')]) {
        const state = path.join(root, BENCH_NAMESPACE);
        if (existsSync(path.join(state, id))) await runcForceDelete(state, id);
      }
    }
    await daemon.dispose();
    removeEmptyNamespaceDirs();
    if (failure !== undefined) throw failure;
  };
  const disposal = cleanup.defer(`remove ${subject.label} tasks and containers`, dispose);

  return {
    subject,
    daemon,
    client,
    fifoRoot,
    async newContainer(id, args) {
      if (closing) throw new Error(`${subject.label}: cleaning up, no new containers`);
      ids.add(id);
      return newBenchContainer(client, rootfs, subject.runtime, id, args);
    },
    trackPid: (pid) => void pids.add(pid),
    async destroyTask(task) {
      await task.kill(9);
      await task.wait();
      await task.delete();
      pids.delete(task.pid);
    },
    shimPids,
    dispose: disposal.now,
  };
}

/** A container of `args` on the read-only fixture rootfs, in BENCH_NAMESPACE. */
export function newBenchContainer(
  client: Client,
  rootfs: string,
  runtime: string,
  id: string,
  args: string[],
) {
  const spec = generateDefaultSpec({ id, namespace: BENCH_NAMESPACE }, [
    withRootfs(rootfs, true),
    withDefaultPathEnv,
    withProcessArgs(...args),
  ]);
  return client.newContainer({ id, spec: spec as unknown as Record<string, unknown>, runtime });
}

/** A container id unique to this run and subject (runc state and cgroups are shared host-wide). */
export function benchId(subjectIndex: number, kind: string, n: number): string {
  return `b${process.pid}-s${subjectIndex}-${kind}-${n}`;
}

export interface TaskRow {
  metric: string;
  values: (number | undefined)[];
  digits?: number;
}

/** Subjects side by side, then the ratio columns of taskRatios. */
export function printTaskComparison(title: string, subjects: TaskSubject[], rows: TaskRow[]): void {
  const ratios = taskRatios(subjects);
  printTable(
    title,
    ['metric', ...subjects.map((s) => s.label), ...ratios.map(([label]) => label)],
    rows.map((r) => [
      r.metric,
      ...r.values.map((v) => (v === undefined ? undefined : v.toFixed(r.digits ?? 1))),
      ...ratios.map(([, a, b]) => {
        const q = ratio(r.values[a], r.values[b]);
        return q === undefined ? undefined : q.toFixed(2);
      }),
    ]),
  );
}
