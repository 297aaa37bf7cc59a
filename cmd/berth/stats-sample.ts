// The figures of `berth stats`: one reading of a container's or pod's
// resources, and the row two readings make (CPU % needs an interval).

import os from 'node:os';

/** One reading; a figure the source does not report is left out. */
export interface ResourceSample {
  /** When it was taken, ns since the epoch. */
  atNs: number;
  /** CPU time used so far, ns. */
  cpuNs?: number;
  /** Memory in use (without inactive page cache), bytes. */
  memory?: number;
  /** Memory limit, bytes; 0 or more than the host has means none. */
  memoryLimit?: number;
  pids?: number;
  netRx?: number;
  netTx?: number;
  blockRead?: number;
  blockWrite?: number;
}

/** A row of `berth stats`, as `--format json` prints it; null where the figure is unknown. */
export interface StatsRow {
  ID: string;
  /** Pods only: the pod's name and Kubernetes namespace. */
  Name?: string;
  Namespace?: string;
  CPUPercent: number | null;
  MemoryUsage: number | null;
  MemoryLimit: number | null;
  MemoryPercent: number | null;
  Pids: number | null;
  NetRx: number | null;
  NetTx: number | null;
  BlockRead: number | null;
  BlockWrite: number | null;
}

/**
 * CPU use between two readings in percent of one CPU, as docker shows it: a
 * process spinning on one core is 100, on two cores 200. Undefined without
 * both readings, or when the counter went back (the task was replaced).
 */
export function cpuPercent(
  prev: ResourceSample | undefined,
  cur: ResourceSample,
): number | undefined {
  if (prev?.cpuNs === undefined || cur.cpuNs === undefined) return undefined;
  const wallNs = cur.atNs - prev.atNs;
  const usedNs = cur.cpuNs - prev.cpuNs;
  if (wallNs <= 0 || usedNs < 0) return undefined;
  return (usedNs / wallNs) * 100;
}

/** The limit that applies: the host's memory when there is none (as docker shows it). */
export function effectiveMemoryLimit(limit: number | undefined, hostBytes = os.totalmem()) {
  return limit !== undefined && limit > 0 && limit < hostBytes ? limit : hostBytes;
}

const round2 = (n: number) => Math.round(n * 100) / 100;
const orNull = (n: number | undefined) => (n === undefined ? null : n);

export function statsRow(
  who: { ID: string; Name?: string; Namespace?: string },
  prev: ResourceSample | undefined,
  cur: ResourceSample,
): StatsRow {
  const cpu = cpuPercent(prev, cur);
  const limit = cur.memory === undefined ? undefined : effectiveMemoryLimit(cur.memoryLimit);
  return {
    ...who,
    CPUPercent: cpu === undefined ? null : round2(cpu),
    MemoryUsage: orNull(cur.memory),
    MemoryLimit: orNull(limit),
    MemoryPercent: cur.memory === undefined || !limit ? null : round2((cur.memory / limit) * 100),
    Pids: orNull(cur.pids),
    NetRx: orNull(cur.netRx),
    NetTx: orNull(cur.netTx),
    BlockRead: orNull(cur.blockRead),
    BlockWrite: orNull(cur.blockWrite),
  };
}
