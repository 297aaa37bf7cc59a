// CRI stats from the shims' cgroup metrics (containerd's cgroups v1 or v2
// Metrics, whichever the host has), the snapshotter's usage of each writable
// layer, and /proc/net/dev read inside the pod's network namespace.

import os from 'node:os';
import type {
  ContainerStats,
  CpuUsage,
  MemoryUsage,
  NetworkInterfaceUsage,
  NetworkUsage,
  PodSandboxStats,
} from '../../api/gen/cri/runtime/v1/api.js';
import { ContainerConfig, PodSandboxConfig } from '../../api/gen/cri/runtime/v1/api.js';
import type { Any } from '../../api/gen/google/protobuf/any.js';
import * as v1 from '../../api/gen/io/containerd/cgroups/v1/metrics.js';
import * as v2 from '../../api/gen/io/containerd/cgroups/v2/metrics.js';
import { unpackAny } from '../../core/protobuf/typeurl.js';
import type { NamespacedSnapshotter } from '../snapshots/namespaced.js';
import type { TaskManager } from '../tasks/manager.js';
import { CRI_NAMESPACE } from './image-store.js';
import { readNetDev } from '../../native/index.js';
import { parseNetDevCounters } from './net-dev.js';
import { isInfraless } from './pod-namespaces.js';
import type { ContainerRecord, CriStore, SandboxRecord } from './store.js';
import { countProcesses, filesystemOf } from './container-probe.js';
import type { ContainerProbe } from './container-probe.js';

export const V1_METRICS = 'io.containerd.cgroups.v1.Metrics';
export const V2_METRICS = 'io.containerd.cgroups.v2.Metrics';

/** The numbers the CRI reports, from one metrics reading. */
export interface CgroupSample {
  /** When the sample was taken, ns since the epoch. */
  atNs: number;
  cpuNs: number;
  memUsage: number;
  /** Usage minus inactive file pages: what the kubelet evicts on. */
  workingSet: number;
  rss: number;
  pageFaults: number;
  majorPageFaults: number;
  /** Memory limit, 0 when unlimited. */
  limit: number;
  swapUsage: number;
  pids: number;
  /** Task limit, 0 when unlimited. */
  pidsLimit: number;
  userNs: number;
  systemNs: number;
  cfsPeriods: number;
  cfsThrottledPeriods: number;
  cfsThrottledNs: number;
  /** Page cache (v1 total_cache, v2 file). */
  cache: number;
  mappedFile: number;
  activeFile: number;
  inactiveFile: number;
  kernel: number;
  /** Times usage hit the limit (v1 failcnt, v2 memory.events max). */
  failcnt: number;
  oomKills: number;
  /** Highest usage the kernel recorded (v1 max_usage_in_bytes); undefined where it keeps none (v2). */
  maxUsage: number | undefined;
  /** Block IO per device (v1 blkio recursive counters, v2 io.stat). */
  io: DeviceIo[];
}

export interface DeviceIo {
  major: number;
  minor: number;
  readBytes: number;
  writeBytes: number;
  reads: number;
  writes: number;
}

/** v1's per-operation blkio entries folded into one record per device. */
function blkioByDevice(
  bytes: readonly { op: string; major: number; minor: number; value: number }[],
  ops: readonly { op: string; major: number; minor: number; value: number }[],
): DeviceIo[] {
  const devices = new Map<string, DeviceIo>();
  const at = (e: { major: number; minor: number }) => {
    const key = `${e.major}:${e.minor}`;
    let d = devices.get(key);
    if (!d) {
      d = { major: e.major, minor: e.minor, readBytes: 0, writeBytes: 0, reads: 0, writes: 0 };
      devices.set(key, d);
    }
    return d;
  };
  for (const e of bytes) {
    if (/^read$/i.test(e.op)) at(e).readBytes += e.value;
    if (/^write$/i.test(e.op)) at(e).writeBytes += e.value;
  }
  for (const e of ops) {
    if (/^read$/i.test(e.op)) at(e).reads += e.value;
    if (/^write$/i.test(e.op)) at(e).writes += e.value;
  }
  return [...devices.values()];
}

/** v1 reports "unlimited" as ~2^63 (clamped to 2^53 by the shim); anything above RAM is no limit. */
function effectiveLimit(n: number): number {
  return n > 0 && n < os.totalmem() ? n : 0;
}

/** The CRI numbers from a shim's Stats answer; undefined for an unknown metrics type. */
export function sampleFromMetrics(any: Any | undefined, atNs: number): CgroupSample | undefined {
  const m1 = unpackAny(any, V1_METRICS, v1.Metrics);
  if (m1) {
    const mem = m1.memory;
    const usage = mem?.usage?.usage ?? 0;
    return {
      atNs,
      cpuNs: m1.cpu?.usage?.total ?? 0,
      memUsage: usage,
      workingSet: Math.max(0, usage - (mem?.totalInactiveFile ?? 0)),
      rss: mem?.totalRss ?? 0,
      pageFaults: mem?.totalPgFault ?? 0,
      majorPageFaults: mem?.totalPgMajFault ?? 0,
      limit: effectiveLimit(mem?.usage?.limit ?? 0),
      // memsw counts memory plus swap.
      swapUsage: Math.max(0, (mem?.swap?.usage ?? 0) - usage),
      pids: m1.pids?.current ?? 0,
      pidsLimit: m1.pids?.limit ?? 0,
      userNs: m1.cpu?.usage?.user ?? 0,
      systemNs: m1.cpu?.usage?.kernel ?? 0,
      cfsPeriods: m1.cpu?.throttling?.periods ?? 0,
      cfsThrottledPeriods: m1.cpu?.throttling?.throttledPeriods ?? 0,
      cfsThrottledNs: m1.cpu?.throttling?.throttledTime ?? 0,
      cache: mem?.totalCache ?? 0,
      mappedFile: mem?.totalMappedFile ?? 0,
      activeFile: mem?.totalActiveFile ?? 0,
      inactiveFile: mem?.totalInactiveFile ?? 0,
      kernel: mem?.kernel?.usage ?? 0,
      failcnt: mem?.usage?.failcnt ?? 0,
      oomKills: m1.memoryOomControl?.oomKill ?? 0,
      maxUsage: mem?.usage?.max,
      io: blkioByDevice(
        m1.blkio?.ioServiceBytesRecursive ?? [],
        m1.blkio?.ioServicedRecursive ?? [],
      ),
    };
  }
  const m2 = unpackAny(any, V2_METRICS, v2.Metrics);
  if (m2) {
    const mem = m2.memory;
    const usage = mem?.usage ?? 0;
    return {
      atNs,
      cpuNs: (m2.cpu?.usageUsec ?? 0) * 1000,
      memUsage: usage,
      workingSet: Math.max(0, usage - (mem?.inactiveFile ?? 0)),
      rss: mem?.anon ?? 0,
      pageFaults: mem?.pgfault ?? 0,
      majorPageFaults: mem?.pgmajfault ?? 0,
      limit: effectiveLimit(mem?.usageLimit ?? 0),
      swapUsage: mem?.swapUsage ?? 0,
      pids: m2.pids?.current ?? 0,
      pidsLimit: m2.pids?.limit ?? 0,
      userNs: (m2.cpu?.userUsec ?? 0) * 1000,
      systemNs: (m2.cpu?.systemUsec ?? 0) * 1000,
      cfsPeriods: m2.cpu?.nrPeriods ?? 0,
      cfsThrottledPeriods: m2.cpu?.nrThrottled ?? 0,
      cfsThrottledNs: (m2.cpu?.throttledUsec ?? 0) * 1000,
      cache: mem?.file ?? 0,
      mappedFile: mem?.fileMapped ?? 0,
      activeFile: mem?.activeFile ?? 0,
      inactiveFile: mem?.inactiveFile ?? 0,
      kernel: mem?.kernelStack ?? 0,
      failcnt: m2.memoryEvents?.max ?? 0,
      oomKills: m2.memoryEvents?.oomKill ?? 0,
      maxUsage: undefined,
      io: (m2.io?.usage ?? []).map((e) => ({
        major: e.major,
        minor: e.minor,
        readBytes: e.rbytes,
        writeBytes: e.wbytes,
        reads: e.rios,
        writes: e.wios,
      })),
    };
  }
  return undefined;
}

/** CPU rate between two samples in nano-cores (1e9 = one core busy). */
/** The infra container's share of a pod's sums when there is none. */
const NO_INFRA = {
  cpuNs: 0,
  cores: 0,
  workingSet: 0,
  memUsage: 0,
  rss: 0,
  pageFaults: 0,
  majorPageFaults: 0,
};

export function nanoCores(prev: CgroupSample, cur: CgroupSample): number {
  const dt = cur.atNs - prev.atNs;
  const du = cur.cpuNs - prev.cpuNs;
  if (dt <= 0 || du < 0) return 0;
  return Math.round((du / dt) * 1e9);
}

/** Interfaces from /proc/<pid>/net/dev, loopback left out. */
export function parseNetDev(text: string): NetworkInterfaceUsage[] {
  const u = (n: number) => ({ value: BigInt(n) });
  return parseNetDevCounters(text).map((c) => ({
    name: c.name,
    rxBytes: u(c.rxBytes),
    rxErrors: u(c.rxErrors),
    txBytes: u(c.txBytes),
    txErrors: u(c.txErrors),
  }));
}

const u64 = (n: number) => ({ value: BigInt(Math.max(0, Math.round(n))) });

function cpuUsage(s: CgroupSample, cores: number | undefined): CpuUsage {
  return {
    timestamp: BigInt(s.atNs),
    usageCoreNanoSeconds: u64(s.cpuNs),
    usageNanoCores: cores === undefined ? undefined : u64(cores),
    psi: undefined,
  };
}

function memoryUsage(s: CgroupSample): MemoryUsage {
  return {
    timestamp: BigInt(s.atNs),
    workingSetBytes: u64(s.workingSet),
    availableBytes: s.limit ? u64(Math.max(0, s.limit - s.workingSet)) : undefined,
    usageBytes: u64(s.memUsage),
    rssBytes: u64(s.rss),
    pageFaults: u64(s.pageFaults),
    majorPageFaults: u64(s.majorPageFaults),
    psi: undefined,
  };
}

/** Without an earlier sample the rate is measured over this interval. */
const RATE_INTERVAL_MS = 100;

export interface StatsDeps {
  store: CriStore;
  manager: TaskManager;
  snapshotter: NamespacedSnapshotter;
  /** Mount point reported as the writable layers' filesystem. */
  snapshotRoot: string;
}

export class CriStats {
  /** The last sample per task, for the CPU rate of the next call. */
  private readonly last = new Map<string, CgroupSample>();

  constructor(private readonly d: StatsDeps) {}

  /** One reading of a task's cgroup; undefined when the task is not running. */
  async read(id: string): Promise<CgroupSample | undefined> {
    const t = this.d.manager.find(CRI_NAMESPACE, id);
    if (!t) return undefined;
    try {
      return sampleFromMetrics(await t.stats({ timeoutMs: 5_000 }), Date.now() * 1e6);
    } catch {
      return undefined; // exited between the listing and the read
    }
  }

  /** A current sample and the CPU rate since the previous one (two readings when there is none). */
  private async sample(id: string): Promise<{ s: CgroupSample; cores: number } | undefined> {
    let prev = this.last.get(id);
    if (!prev) {
      prev = await this.read(id);
      if (!prev) return undefined;
      await new Promise((r) => setTimeout(r, RATE_INTERVAL_MS));
    }
    const s = await this.read(id);
    if (!s) {
      this.last.delete(id);
      return undefined;
    }
    this.last.set(id, s);
    return { s, cores: nanoCores(prev, s) };
  }

  /** A running container's processes and writable-layer filesystem, for the metrics. */
  async probe(c: ContainerRecord): Promise<ContainerProbe> {
    const t = this.d.manager.find(CRI_NAMESPACE, c.id);
    if (!t) return {};
    const [pids, usage] = await Promise.all([
      t
        .pids({ timeoutMs: 5_000 })
        .then((ps) => ps.map((p) => p.pid))
        .catch(() => [] as number[]),
      this.d.snapshotter.usage(CRI_NAMESPACE, c.snapshotKey).catch(() => undefined),
    ]);
    const fs = filesystemOf(t.bundle.rootfs);
    return { procs: countProcesses(pids), fs: fs && { ...fs, usageBytes: usage?.size } };
  }

  /** Drops the remembered sample of a removed container or sandbox. */
  forget(id: string): void {
    this.last.delete(id);
  }

  async container(c: ContainerRecord): Promise<ContainerStats> {
    const cfg = ContainerConfig.fromJSON(c.config);
    const now = BigInt(Date.now()) * 1_000_000n;
    const [sample, usage] = await Promise.all([
      c.state === 'running' ? this.sample(c.id) : Promise.resolve(undefined),
      this.d.snapshotter.usage(CRI_NAMESPACE, c.snapshotKey).catch(() => undefined),
    ]);
    return {
      attributes: {
        id: c.id,
        metadata: cfg.metadata,
        labels: cfg.labels,
        annotations: cfg.annotations,
      },
      cpu: sample ? cpuUsage(sample.s, sample.cores) : undefined,
      memory: sample ? memoryUsage(sample.s) : undefined,
      writableLayer: usage
        ? {
            timestamp: now,
            fsId: { mountpoint: this.d.snapshotRoot },
            usedBytes: u64(usage.size),
            inodesUsed: u64(usage.inodes),
          }
        : undefined,
      swap: sample
        ? {
            timestamp: BigInt(sample.s.atNs),
            swapUsageBytes: u64(sample.s.swapUsage),
            swapAvailableBytes: undefined,
          }
        : undefined,
      io: undefined,
    };
  }

  private async network(sb: SandboxRecord): Promise<NetworkUsage | undefined> {
    if (!sb.netnsPath || sb.state !== 'ready') return undefined;
    const text = await readNetDev(sb.netnsPath).catch(() => undefined);
    if (text === undefined) return undefined;
    const interfaces = parseNetDev(text);
    return {
      timestamp: BigInt(Date.now()) * 1_000_000n,
      defaultInterface: interfaces.find((i) => i.name === 'eth0') ?? interfaces[0],
      interfaces,
    };
  }

  /**
   * The pod's CPU, memory and process count are the sums over its pause
   * process (if it has one) and running containers (each has its own cgroup under the pod's
   * parent, if any), so the numbers hold whatever cgroup layout the pod has.
   */
  async sandbox(sb: SandboxRecord): Promise<PodSandboxStats> {
    const cfg = PodSandboxConfig.fromJSON(sb.config);
    const members = this.d.store.containers.list().filter((c) => c.sandboxId === sb.id);
    const infraless = isInfraless(sb);
    const [pause, containers, network] = await Promise.all([
      sb.state === 'ready' && !infraless ? this.sample(sb.id) : Promise.resolve(undefined),
      Promise.all(members.map((c) => this.container(c))),
      this.network(sb),
    ]);
    const at = BigInt(Date.now()) * 1_000_000n;
    // The pause process's own share, or nothing for a ready pod without one.
    const own = pause
      ? { ...pause.s, cores: pause.cores }
      : infraless && sb.state === 'ready'
        ? NO_INFRA
        : undefined;
    // Each term is the pause process's value plus the running containers'.
    const total = (base: number, f: (c: ContainerStats) => bigint | undefined) => ({
      value: containers.reduce((n, c) => n + (f(c) ?? 0n), BigInt(Math.round(base))),
    });
    const running = members.filter((c) => c.state === 'running').map((c) => c.id);
    return {
      attributes: {
        id: sb.id,
        metadata: cfg.metadata,
        labels: cfg.labels,
        annotations: cfg.annotations,
      },
      linux: {
        cpu: own && {
          timestamp: at,
          usageCoreNanoSeconds: total(own.cpuNs, (c) => c.cpu?.usageCoreNanoSeconds?.value),
          usageNanoCores: total(own.cores, (c) => c.cpu?.usageNanoCores?.value),
          psi: undefined,
        },
        memory: own && {
          timestamp: at,
          workingSetBytes: total(own.workingSet, (c) => c.memory?.workingSetBytes?.value),
          availableBytes: undefined,
          usageBytes: total(own.memUsage, (c) => c.memory?.usageBytes?.value),
          rssBytes: total(own.rss, (c) => c.memory?.rssBytes?.value),
          pageFaults: total(own.pageFaults, (c) => c.memory?.pageFaults?.value),
          majorPageFaults: total(own.majorPageFaults, (c) => c.memory?.majorPageFaults?.value),
          psi: undefined,
        },
        network,
        process: own && {
          timestamp: at,
          processCount: u64(
            [sb.id, ...running].reduce((n, id) => n + (this.last.get(id)?.pids ?? 0), 0),
          ),
        },
        containers,
        io: undefined,
      },
      windows: undefined,
    };
  }
}
