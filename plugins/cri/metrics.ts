// ListMetricDescriptors and ListPodSandboxMetrics: the cAdvisor-named metrics
// a kubelet with PodAndContainerStatsFromCRI serves on /metrics/cadvisor. The
// numbers are the ones ContainerStats and PodSandboxStats report (the shims'
// cgroup metrics, /proc/net/dev of the pod's network namespace), in Prometheus form. Names and
// label keys follow containerd's CRI, which follows cAdvisor.

import {
  ContainerConfig,
  type ContainerMetrics,
  type LinuxContainerResources,
  type Metric,
  type MetricDescriptor,
  MetricType,
  PodSandboxConfig,
  type PodSandboxMetrics,
} from '../../api/gen/cri/runtime/v1/api.js';
import { readNetDev } from '../../native/index.js';
import { type NetDevCounters, parseNetDevCounters } from './net-dev.js';
import type { CgroupSample, DeviceIo } from './stats.js';
import {
  type ContainerProbe,
  type FilesystemFigures,
  type ProcessCounts,
  blockDeviceName,
} from './container-probe.js';

export type { ContainerProbe };
import type { ContainerRecord, CriStore, SandboxRecord } from './store.js';

/** Every metric's labels, its label values in this order. */
export const LABEL_KEYS = ['pod', 'namespace', 'container', 'id', 'image'];
const NETWORK_LABEL_KEYS = [...LABEL_KEYS, 'interface'];
const DEVICE_LABEL_KEYS = [...LABEL_KEYS, 'device'];
const BLKIO_LABEL_KEYS = [...LABEL_KEYS, 'device', 'major', 'minor', 'operation'];
const FAILURE_LABEL_KEYS = [...LABEL_KEYS, 'failure_type', 'scope'];
/** The `container` label of pod-level metrics: cAdvisor's name for the pause container. */
export const POD_CONTAINER = 'POD';

/** What a container's metrics are computed from. */
export interface ContainerView {
  s: CgroupSample;
  startedAtNs: number;
  resources: LinuxContainerResources | undefined;
  /** Peak memory usage: the kernel's where it keeps one (v1), else the highest seen by berthd. */
  maxUsage?: number;
  procs?: ProcessCounts;
  /** The writable layer's filesystem, and how much of it the layer uses. */
  fs?: FilesystemFigures & { usageBytes?: number };
}

type Value = number | bigint | undefined;

interface MetricDef<T> {
  name: string;
  help: string;
  type: MetricType;
  /** undefined: the metric does not apply (e.g. a CPU quota that was never set). */
  value(x: T): Value;
}

const { COUNTER, GAUGE } = MetricType;
/** The CRI carries integers: seconds are whole seconds, as containerd and CRI-O send them. */
const seconds = (ns: number) => Math.floor(ns / 1e9);
const ifSet = (n: bigint | undefined) => (n && n > 0n ? n : undefined);

const CONTAINER_METRICS: MetricDef<ContainerView>[] = [
  {
    name: 'container_cpu_usage_seconds_total',
    help: 'Cumulative CPU time consumed in seconds.',
    type: COUNTER,
    value: ({ s }) => seconds(s.cpuNs),
  },
  {
    name: 'container_cpu_user_seconds_total',
    help: 'Cumulative user CPU time consumed in seconds.',
    type: COUNTER,
    value: ({ s }) => seconds(s.userNs),
  },
  {
    name: 'container_cpu_system_seconds_total',
    help: 'Cumulative system CPU time consumed in seconds.',
    type: COUNTER,
    value: ({ s }) => seconds(s.systemNs),
  },
  {
    name: 'container_cpu_cfs_periods_total',
    help: 'Number of elapsed CFS enforcement periods.',
    type: COUNTER,
    value: ({ s }) => s.cfsPeriods,
  },
  {
    name: 'container_cpu_cfs_throttled_periods_total',
    help: 'Number of CFS periods in which the container was throttled.',
    type: COUNTER,
    value: ({ s }) => s.cfsThrottledPeriods,
  },
  {
    name: 'container_cpu_cfs_throttled_seconds_total',
    help: 'Total time the container was throttled, in seconds.',
    type: COUNTER,
    value: ({ s }) => seconds(s.cfsThrottledNs),
  },
  {
    name: 'container_memory_usage_bytes',
    help: 'Current memory usage in bytes, including page cache.',
    type: GAUGE,
    value: ({ s }) => s.memUsage,
  },
  {
    name: 'container_memory_working_set_bytes',
    help: 'Memory usage minus inactive file pages, in bytes.',
    type: GAUGE,
    value: ({ s }) => s.workingSet,
  },
  {
    name: 'container_memory_rss',
    help: 'Anonymous memory (RSS) in bytes.',
    type: GAUGE,
    value: ({ s }) => s.rss,
  },
  {
    name: 'container_memory_cache',
    help: 'Page cache memory in bytes.',
    type: GAUGE,
    value: ({ s }) => s.cache,
  },
  {
    name: 'container_memory_mapped_file',
    help: 'Memory-mapped file pages in bytes.',
    type: GAUGE,
    value: ({ s }) => s.mappedFile,
  },
  {
    name: 'container_memory_swap',
    help: 'Swap usage in bytes.',
    type: GAUGE,
    value: ({ s }) => s.swapUsage,
  },
  {
    name: 'container_memory_kernel_usage',
    help: 'Kernel memory in bytes (cgroup v1 kmem usage, v2 kernel stack).',
    type: GAUGE,
    value: ({ s }) => s.kernel,
  },
  {
    name: 'container_memory_failcnt',
    help: 'Number of times memory usage hit the limit.',
    type: COUNTER,
    value: ({ s }) => s.failcnt,
  },
  {
    name: 'container_memory_total_active_file_bytes',
    help: 'Active file-backed memory in bytes.',
    type: GAUGE,
    value: ({ s }) => s.activeFile,
  },
  {
    name: 'container_memory_total_inactive_file_bytes',
    help: 'Inactive file-backed memory in bytes.',
    type: GAUGE,
    value: ({ s }) => s.inactiveFile,
  },
  {
    name: 'container_oom_events_total',
    help: 'Number of processes of the container killed by the OOM killer.',
    type: COUNTER,
    value: ({ s }) => s.oomKills,
  },
  {
    name: 'container_threads',
    help: 'Number of tasks (threads) in the container.',
    type: GAUGE,
    value: ({ s }) => s.pids,
  },
  {
    name: 'container_threads_max',
    help: 'Maximum number of tasks in the container, 0 when unlimited.',
    type: GAUGE,
    value: ({ s }) => s.pidsLimit,
  },
  {
    name: 'container_spec_memory_limit_bytes',
    help: 'Memory limit of the container in bytes, 0 when unlimited.',
    type: GAUGE,
    value: ({ s }) => s.limit,
  },
  {
    name: 'container_spec_memory_swap_limit_bytes',
    help: 'Memory plus swap limit of the container in bytes.',
    type: GAUGE,
    value: ({ resources }) => ifSet(resources?.memorySwapLimitInBytes),
  },
  {
    name: 'container_spec_cpu_period',
    help: 'CPU CFS period of the container in microseconds.',
    type: GAUGE,
    value: ({ resources }) => ifSet(resources?.cpuPeriod),
  },
  {
    name: 'container_spec_cpu_quota',
    help: 'CPU CFS quota of the container in microseconds.',
    type: GAUGE,
    value: ({ resources }) => ifSet(resources?.cpuQuota),
  },
  {
    name: 'container_spec_cpu_shares',
    help: 'CPU shares of the container.',
    type: GAUGE,
    value: ({ resources }) => ifSet(resources?.cpuShares),
  },
  {
    name: 'container_start_time_seconds',
    help: 'Start time of the container since the Unix epoch, in seconds.',
    type: GAUGE,
    value: ({ startedAtNs }) => seconds(startedAtNs),
  },
  {
    name: 'container_last_seen',
    help: 'Last time the container was seen, since the Unix epoch, in seconds.',
    type: GAUGE,
    value: ({ s }) => seconds(s.atNs),
  },
  {
    name: 'container_memory_max_usage_bytes',
    help: 'Maximum memory usage recorded in bytes.',
    type: GAUGE,
    value: ({ maxUsage }) => maxUsage,
  },
  {
    name: 'container_processes',
    help: 'Number of processes running inside the container.',
    type: GAUGE,
    value: ({ procs }) => procs?.processes,
  },
  {
    name: 'container_file_descriptors',
    help: 'Number of open file descriptors for the container.',
    type: GAUGE,
    value: ({ procs }) => procs?.fileDescriptors,
  },
  {
    name: 'container_sockets',
    help: 'Number of open sockets for the container.',
    type: GAUGE,
    value: ({ procs }) => procs?.sockets,
  },
];

type Fs = FilesystemFigures & { usageBytes?: number };

/** The writable layer's filesystem, one series per container (label `device`). */
const FS_METRICS: MetricDef<Fs>[] = [
  {
    name: 'container_fs_usage_bytes',
    help: 'Number of bytes that are consumed by the container on this filesystem.',
    type: GAUGE,
    value: (f) => f.usageBytes,
  },
  {
    name: 'container_fs_limit_bytes',
    help: 'Number of bytes that can be consumed by the container on this filesystem.',
    type: GAUGE,
    value: (f) => f.limitBytes,
  },
  {
    name: 'container_fs_inodes_total',
    help: 'Number of Inodes',
    type: GAUGE,
    value: (f) => f.inodesTotal,
  },
  {
    name: 'container_fs_inodes_free',
    help: 'Number of available Inodes',
    type: GAUGE,
    value: (f) => f.inodesFree,
  },
];

/** Block IO per device (label `device`), from the cgroup's blkio/io counters. */
const IO_METRICS: MetricDef<DeviceIo>[] = [
  {
    name: 'container_fs_reads_bytes_total',
    help: 'Cumulative count of bytes read.',
    type: COUNTER,
    value: (d) => d.readBytes,
  },
  {
    name: 'container_fs_reads_total',
    help: 'Cumulative count of reads completed.',
    type: COUNTER,
    value: (d) => d.reads,
  },
  {
    name: 'container_fs_writes_bytes_total',
    help: 'Cumulative count of bytes written.',
    type: COUNTER,
    value: (d) => d.writeBytes,
  },
  {
    name: 'container_fs_writes_total',
    help: 'Cumulative count of writes completed.',
    type: COUNTER,
    value: (d) => d.writes,
  },
];

const BLKIO_USAGE = {
  name: 'container_blkio_device_usage_total',
  help: 'Blkio device bytes usage.',
};

const MEMORY_FAILURES = {
  name: 'container_memory_failures_total',
  help: 'Cumulative count of memory allocation failures.',
};

const net = (
  suffix: string,
  what: string,
  value: (c: NetDevCounters) => number,
): MetricDef<NetDevCounters> => ({
  name: `container_network_${suffix}`,
  help: `Cumulative count of ${what}.`,
  type: COUNTER,
  value,
});

const NETWORK_METRICS: MetricDef<NetDevCounters>[] = [
  net('receive_bytes_total', 'bytes received', (c) => c.rxBytes),
  net('receive_packets_total', 'packets received', (c) => c.rxPackets),
  net('receive_packets_dropped_total', 'packets dropped while receiving', (c) => c.rxDropped),
  net('receive_errors_total', 'errors while receiving', (c) => c.rxErrors),
  net('transmit_bytes_total', 'bytes transmitted', (c) => c.txBytes),
  net('transmit_packets_total', 'packets transmitted', (c) => c.txPackets),
  net('transmit_packets_dropped_total', 'packets dropped while transmitting', (c) => c.txDropped),
  net('transmit_errors_total', 'errors while transmitting', (c) => c.txErrors),
];

/** Everything ListPodSandboxMetrics can return; the kubelet drops metrics not described here. */
export function metricDescriptors(): MetricDescriptor[] {
  return [
    ...CONTAINER_METRICS.map((m) => ({ name: m.name, help: m.help, labelKeys: LABEL_KEYS })),
    ...FS_METRICS.map((m) => ({ name: m.name, help: m.help, labelKeys: DEVICE_LABEL_KEYS })),
    ...IO_METRICS.map((m) => ({ name: m.name, help: m.help, labelKeys: DEVICE_LABEL_KEYS })),
    { ...BLKIO_USAGE, labelKeys: BLKIO_LABEL_KEYS },
    { ...MEMORY_FAILURES, labelKeys: FAILURE_LABEL_KEYS },
    ...NETWORK_METRICS.map((m) => ({ name: m.name, help: m.help, labelKeys: NETWORK_LABEL_KEYS })),
  ];
}

function metric<T>(def: MetricDef<T>, x: T, labelValues: string[], atNs: number): Metric[] {
  const v = def.value(x);
  if (v === undefined) return [];
  const n = typeof v === 'bigint' ? v : BigInt(Math.floor(v));
  return [
    {
      name: def.name,
      timestamp: BigInt(atNs),
      metricType: def.type,
      labelValues,
      value: { value: n > 0n ? n : 0n },
    },
  ];
}

const counter = (name: string, labelValues: string[], value: number, atNs: number): Metric => ({
  name,
  timestamp: BigInt(atNs),
  metricType: COUNTER,
  labelValues,
  value: { value: BigInt(Math.max(0, Math.floor(value))) },
});

/** A running container's metrics; `labels` are its values for LABEL_KEYS. */
export function containerMetrics(
  view: ContainerView,
  labels: string[],
  deviceName: (major: number, minor: number) => string = blockDeviceName,
): Metric[] {
  const at = view.s.atNs;
  const out = CONTAINER_METRICS.flatMap((d) => metric(d, view, labels, at));
  if (view.fs) {
    const fsLabels = [...labels, view.fs.device];
    out.push(...FS_METRICS.flatMap((d) => metric(d, view.fs!, fsLabels, at)));
  }
  for (const io of view.s.io) {
    const dev = deviceName(io.major, io.minor);
    out.push(...IO_METRICS.flatMap((d) => metric(d, io, [...labels, dev], at)));
    const blk = [...labels, dev, String(io.major), String(io.minor)];
    out.push(counter(BLKIO_USAGE.name, [...blk, 'Read'], io.readBytes, at));
    out.push(counter(BLKIO_USAGE.name, [...blk, 'Write'], io.writeBytes, at));
  }
  // A container's cgroup is a leaf: its own faults and its hierarchy's are the same counts.
  for (const scope of ['container', 'hierarchy']) {
    out.push(counter(MEMORY_FAILURES.name, [...labels, 'pgfault', scope], view.s.pageFaults, at));
    out.push(
      counter(MEMORY_FAILURES.name, [...labels, 'pgmajfault', scope], view.s.majorPageFaults, at),
    );
  }
  return out;
}

/** A pod's per-interface network metrics; `labels` are the pod's values for LABEL_KEYS. */
export function networkMetrics(ifaces: NetDevCounters[], labels: string[], atNs: number): Metric[] {
  return ifaces.flatMap((i) =>
    NETWORK_METRICS.flatMap((d) => metric(d, i, [...labels, i.name], atNs)),
  );
}

export interface MetricsDeps {
  store: CriStore;
  /** One cgroup reading of a task, undefined when it is not running (CriStats.read). */
  read(id: string): Promise<CgroupSample | undefined>;
  /** Processes and the writable layer's filesystem of a running container (CriStats.probe). */
  probe?(c: ContainerRecord): Promise<ContainerProbe>;
}

export class CriMetrics {
  /** The highest memory usage seen per container, where the kernel records no peak (v2). */
  private readonly peaks = new Map<string, number>();

  constructor(private readonly d: MetricsDeps) {}

  /** Ready pods only, as containerd does: a stopped pod has nothing left to measure. */
  async list(): Promise<PodSandboxMetrics[]> {
    const ready = this.d.store.sandboxes.list().filter((sb) => sb.state === 'ready');
    return Promise.all(ready.map((sb) => this.pod(sb)));
  }

  private async pod(sb: SandboxRecord): Promise<PodSandboxMetrics> {
    const meta = PodSandboxConfig.fromJSON(sb.config).metadata;
    const [pod, ns] = [meta?.name ?? '', meta?.namespace ?? ''];
    const members = this.d.store.containers
      .list()
      .filter((c) => c.sandboxId === sb.id && c.state === 'running');
    const [network, containers] = await Promise.all([
      this.network(sb),
      Promise.all(members.map((c) => this.container(c, pod, ns))),
    ]);
    return {
      podSandboxId: sb.id,
      metrics: networkMetrics(network, [pod, ns, POD_CONTAINER, sb.id, sb.image], Date.now() * 1e6),
      containerMetrics: containers.filter((c) => c !== undefined),
    };
  }

  private async container(
    c: ContainerRecord,
    pod: string,
    ns: string,
  ): Promise<ContainerMetrics | undefined> {
    const [s, probe] = await Promise.all([
      this.d.read(c.id),
      this.d.probe?.(c).catch(() => ({})) ?? Promise.resolve({}),
    ]);
    if (!s) {
      this.peaks.delete(c.id);
      return undefined; // exited since the listing
    }
    const cfg = ContainerConfig.fromJSON(c.config);
    const maxUsage = s.maxUsage ?? Math.max(this.peaks.get(c.id) ?? 0, s.memUsage);
    if (s.maxUsage === undefined) this.peaks.set(c.id, maxUsage);
    const view = {
      s,
      startedAtNs: c.startedAt,
      resources: cfg.linux?.resources,
      maxUsage,
      ...probe,
    };
    const labels = [pod, ns, cfg.metadata?.name ?? c.name, c.id, c.image];
    return { containerId: c.id, metrics: containerMetrics(view, labels) };
  }

  /** The pod's own interfaces; a pod on the host network has none of its own. */
  private async network(sb: SandboxRecord): Promise<NetDevCounters[]> {
    if (!sb.netnsPath) return [];
    const text = await readNetDev(sb.netnsPath).catch(() => '');
    return parseNetDevCounters(text);
  }
}
