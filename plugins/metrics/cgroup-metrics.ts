// Per-container cgroup metrics from the tasks' Metrics (the shims' cgroups v1
// or v2 Metrics messages), under the names containerd's `/v1/metrics` gives
// them: `container_<what>_<unit>` with `container_id` and `namespace` labels
// (plus `cpu`, `op`/`device`/`major`/`minor` or `page` where a value has
// several rows). All are gauges, as containerd reports them.

import type { Metric } from '../../api/gen/containerd/types/metrics.js';
import * as v1 from '../../api/gen/io/containerd/cgroups/v1/metrics.js';
import * as v2 from '../../api/gen/io/containerd/cgroups/v2/metrics.js';
import { unpackAny } from '../../core/protobuf/typeurl.js';
import { V1_METRICS, V2_METRICS } from '../cri/stats.js';
import { type MetricFamily, family } from './registry.js';

type Row = readonly [extraLabels: readonly string[], value: number];

interface Series<M> {
  /** Without the `container_` prefix: `cpu_total_nanoseconds`. */
  name: string;
  help: string;
  labels?: readonly string[];
  rows(m: M): Row[];
}

const one = (v: number | undefined): Row[] => (v === undefined ? [] : [[[], v]]);

const BLKIO_LABELS = ['op', 'device', 'major', 'minor'];
const blkio = (name: string, help: string, pick: (b: v1.BlkIOStat) => v1.BlkIOEntry[]) => ({
  name,
  help,
  labels: BLKIO_LABELS,
  rows: (m: v1.Metrics): Row[] =>
    (m.blkio ? pick(m.blkio) : []).map((e) => [
      [e.op, e.device, String(e.major), String(e.minor)],
      e.value,
    ]),
});

// memory.stat fields as containerd names them (every one in bytes, even the
// page event counts), with and without the hierarchical `total_` prefix.
const V1_MEMORY_STAT: [string, keyof v1.MemoryStat][] = [
  ['cache', 'cache'],
  ['rss', 'rss'],
  ['rss_huge', 'rssHuge'],
  ['mapped_file', 'mappedFile'],
  ['dirty', 'dirty'],
  ['writeback', 'writeback'],
  ['pgpgin', 'pgPgIn'],
  ['pgpgout', 'pgPgOut'],
  ['pgfault', 'pgFault'],
  ['pgmajfault', 'pgMajFault'],
  ['inactive_anon', 'inactiveAnon'],
  ['active_anon', 'activeAnon'],
  ['inactive_file', 'inactiveFile'],
  ['active_file', 'activeFile'],
  ['unevictable', 'unevictable'],
];
const totalKey = (k: string) => `total${k[0]!.toUpperCase()}${k.slice(1)}` as keyof v1.MemoryStat;
const memoryStat = (key: keyof v1.MemoryStat) => (m: v1.Metrics) =>
  one(m.memory ? (m.memory[key] as number) : undefined);

const V1_MEMORY_ENTRIES: [string, 'usage' | 'swap' | 'kernel' | 'kernelTcp'][] = [
  ['usage', 'usage'],
  ['swap', 'swap'],
  ['kernel', 'kernel'],
  ['kerneltcp', 'kernelTcp'],
];

const V1_SERIES: Series<v1.Metrics>[] = [
  {
    name: 'pids_limit',
    help: 'The limit to the number of pids allowed',
    rows: (m) => one(m.pids?.limit),
  },
  { name: 'pids_current', help: 'The current number of pids', rows: (m) => one(m.pids?.current) },
  {
    name: 'cpu_total_nanoseconds',
    help: 'The total cpu time',
    rows: (m) => one(m.cpu?.usage?.total),
  },
  {
    name: 'cpu_kernel_nanoseconds',
    help: 'The total kernel cpu time',
    rows: (m) => one(m.cpu?.usage?.kernel),
  },
  {
    name: 'cpu_user_nanoseconds',
    help: 'The total user cpu time',
    rows: (m) => one(m.cpu?.usage?.user),
  },
  {
    name: 'per_cpu_nanoseconds',
    help: 'The total cpu time per cpu',
    labels: ['cpu'],
    rows: (m) => (m.cpu?.usage?.perCpu ?? []).map((v, i) => [[String(i)], v]),
  },
  {
    name: 'cpu_throttle_periods_total',
    help: 'The total cpu throttle periods',
    rows: (m) => one(m.cpu?.throttling?.periods),
  },
  {
    name: 'cpu_throttled_periods_total',
    help: 'The total cpu throttled periods',
    rows: (m) => one(m.cpu?.throttling?.throttledPeriods),
  },
  {
    name: 'cpu_throttled_time_nanoseconds',
    help: 'The total cpu throttled time',
    rows: (m) => one(m.cpu?.throttling?.throttledTime),
  },
  ...V1_MEMORY_STAT.flatMap(([name, key]) => [
    { name: `memory_${name}_bytes`, help: `The ${name} amount`, rows: memoryStat(key) },
    {
      name: `memory_total_${name}_bytes`,
      help: `The total_${name} amount`,
      rows: memoryStat(totalKey(key)),
    },
  ]),
  {
    name: 'memory_hierarchical_memory_limit_bytes',
    help: 'The hierarchical_memory_limit amount',
    rows: memoryStat('hierarchicalMemoryLimit'),
  },
  {
    name: 'memory_hierarchical_memsw_limit_bytes',
    help: 'The hierarchical_memsw_limit amount',
    rows: memoryStat('hierarchicalSwapLimit'),
  },
  ...V1_MEMORY_ENTRIES.flatMap(([name, key]) => {
    const entry = (m: v1.Metrics) => m.memory?.[key];
    return [
      {
        name: `memory_${name}_failcnt_total`,
        help: `The ${name} failcnt`,
        rows: (m: v1.Metrics) => one(entry(m)?.failcnt),
      },
      {
        name: `memory_${name}_limit_bytes`,
        help: `The ${name} limit`,
        rows: (m: v1.Metrics) => one(entry(m)?.limit),
      },
      {
        name: `memory_${name}_max_bytes`,
        help: `The ${name} maximum usage`,
        rows: (m: v1.Metrics) => one(entry(m)?.max),
      },
      {
        name: `memory_${name}_usage_bytes`,
        help: `The ${name} usage`,
        rows: (m: v1.Metrics) => one(entry(m)?.usage),
      },
    ];
  }),
  blkio(
    'blkio_io_merged_recursive_total',
    'The blkio io merged recursive',
    (b) => b.ioMergedRecursive,
  ),
  blkio(
    'blkio_io_queued_recursive_total',
    'The blkio io queued recursive',
    (b) => b.ioQueuedRecursive,
  ),
  blkio(
    'blkio_io_service_bytes_recursive_bytes',
    'The blkio io service bytes recursive',
    (b) => b.ioServiceBytesRecursive,
  ),
  blkio(
    'blkio_io_service_time_recursive_total',
    'The blkio io service time recursive',
    (b) => b.ioServiceTimeRecursive,
  ),
  blkio(
    'blkio_io_serviced_recursive_total',
    'The blkio io serviced recursive',
    (b) => b.ioServicedRecursive,
  ),
  blkio('blkio_io_time_recursive_total', 'The blkio io time recursive', (b) => b.ioTimeRecursive),
  blkio('blkio_sectors_recursive_total', 'The blkio sectors recursive', (b) => b.sectorsRecursive),
  {
    name: 'hugetlb_usage_bytes',
    help: 'The hugetlb usage',
    labels: ['page'],
    rows: (m) => m.hugetlb.map((h) => [[h.pagesize], h.usage]),
  },
  {
    name: 'hugetlb_failcnt_total',
    help: 'The hugetlb failcnt',
    labels: ['page'],
    rows: (m) => m.hugetlb.map((h) => [[h.pagesize], h.failcnt]),
  },
  {
    name: 'hugetlb_max_bytes',
    help: 'The hugetlb maximum usage',
    labels: ['page'],
    rows: (m) => m.hugetlb.map((h) => [[h.pagesize], h.max]),
  },
];

// cgroup v2 memory.stat fields containerd exports, as `memory_<field>_bytes`.
const V2_MEMORY_STAT: [string, keyof v2.MemoryStat][] = [
  ['file_mapped', 'fileMapped'],
  ['file_dirty', 'fileDirty'],
  ['file_writeback', 'fileWriteback'],
  ['pgactivate', 'pgactivate'],
  ['pgdeactivate', 'pgdeactivate'],
  ['pgfault', 'pgfault'],
  ['pgmajfault', 'pgmajfault'],
  ['pglazyfree', 'pglazyfree'],
  ['pgrefill', 'pgrefill'],
  ['pglazyfreed', 'pglazyfreed'],
  ['pgscan', 'pgscan'],
  ['pgsteal', 'pgsteal'],
  ['inactive_anon', 'inactiveAnon'],
  ['active_anon', 'activeAnon'],
  ['inactive_file', 'inactiveFile'],
  ['active_file', 'activeFile'],
  ['unevictable', 'unevictable'],
  ['anon', 'anon'],
  ['file', 'file'],
  ['kernel_stack', 'kernelStack'],
  ['slab', 'slab'],
  ['sock', 'sock'],
  ['shmem', 'shmem'],
  ['anon_thp', 'anonThp'],
  ['slab_reclaimable', 'slabReclaimable'],
  ['slab_unreclaimable', 'slabUnreclaimable'],
  ['workingset_refault', 'workingsetRefault'],
  ['workingset_activate', 'workingsetActivate'],
  ['workingset_nodereclaim', 'workingsetNodereclaim'],
  ['thp_fault_alloc', 'thpFaultAlloc'],
  ['thp_collapse_alloc', 'thpCollapseAlloc'],
];

const IO_LABELS = ['major', 'minor'];
const io = (name: string, help: string, pick: (e: v2.IOEntry) => number) => ({
  name,
  help,
  labels: IO_LABELS,
  rows: (m: v2.Metrics): Row[] =>
    (m.io?.usage ?? []).map((e) => [[String(e.major), String(e.minor)], pick(e)]),
});

const V2_SERIES: Series<v2.Metrics>[] = [
  {
    name: 'pids_limit',
    help: 'The limit to the number of pids allowed',
    rows: (m) => one(m.pids?.limit),
  },
  { name: 'pids_current', help: 'The current number of pids', rows: (m) => one(m.pids?.current) },
  {
    name: 'cpu_usage_usec_microseconds',
    help: 'Total cpu usage (cgroup v2)',
    rows: (m) => one(m.cpu?.usageUsec),
  },
  {
    name: 'cpu_user_usec_microseconds',
    help: 'Current cpu usage in user space (cgroup v2)',
    rows: (m) => one(m.cpu?.userUsec),
  },
  {
    name: 'cpu_system_usec_microseconds',
    help: 'Current cpu usage in kernel space (cgroup v2)',
    rows: (m) => one(m.cpu?.systemUsec),
  },
  {
    name: 'cpu_nr_periods_total',
    help: 'Current cpu number of periods (only if controller is enabled)',
    rows: (m) => one(m.cpu?.nrPeriods),
  },
  {
    name: 'cpu_nr_throttled_total',
    help: 'Total number of times tasks have been throttled (only if controller is enabled)',
    rows: (m) => one(m.cpu?.nrThrottled),
  },
  {
    name: 'cpu_throttled_usec_microseconds',
    help: 'Total time duration for which tasks have been throttled (only if controller is enabled)',
    rows: (m) => one(m.cpu?.throttledUsec),
  },
  {
    name: 'memory_usage_bytes',
    help: 'Current memory usage (cgroup v2)',
    rows: (m) => one(m.memory?.usage),
  },
  {
    name: 'memory_usage_limit_bytes',
    help: 'Current memory usage limit (cgroup v2)',
    rows: (m) => one(m.memory?.usageLimit),
  },
  {
    name: 'memory_swap_usage_bytes',
    help: 'Current swap usage (cgroup v2)',
    rows: (m) => one(m.memory?.swapUsage),
  },
  {
    name: 'memory_swap_limit_bytes',
    help: 'Current swap usage limit (cgroup v2)',
    rows: (m) => one(m.memory?.swapLimit),
  },
  ...V2_MEMORY_STAT.map(([name, key]) => ({
    name: `memory_${name}_bytes`,
    help: `The ${name} amount`,
    rows: (m: v2.Metrics) => one(m.memory ? (m.memory[key] as number) : undefined),
  })),
  {
    name: 'memory_oom_total',
    help: 'The number of times a container has received an oom event',
    rows: (m) => one(m.memoryEvents?.oom),
  },
  io('io_rbytes_bytes', 'IO bytes read', (e) => e.rbytes),
  io('io_wbytes_bytes', 'IO bytes written', (e) => e.wbytes),
  io('io_rios_total', 'Number of read IOs', (e) => e.rios),
  io('io_wios_total', 'Number of write IOs', (e) => e.wios),
];

/** One task's metrics, its namespace beside it. */
export interface TaskMetric {
  namespace: string;
  metric: Metric;
}

function collect<M>(
  series: Series<M>[],
  out: Map<string, MetricFamily>,
  stats: M,
  id: string,
  namespace: string,
): void {
  for (const s of series) {
    const rows = s.rows(stats);
    if (rows.length === 0) continue;
    const name = `container_${s.name}`;
    const names = ['container_id', 'namespace', ...(s.labels ?? [])];
    const f = out.get(name) ?? family(name, s.help, 'gauge', names, []);
    out.set(name, f);
    for (const [extra, value] of rows) {
      const values = [id, namespace, ...extra];
      f.samples.push({ labels: names.map((n, i) => [n, values[i]!] as const), value });
    }
  }
}

/** The container_* families for these tasks' metrics; unknown metric types are skipped. */
export function cgroupFamilies(tasks: readonly TaskMetric[]): MetricFamily[] {
  const out = new Map<string, MetricFamily>();
  for (const { namespace, metric } of tasks) {
    const s1 = unpackAny(metric.data, V1_METRICS, v1.Metrics);
    if (s1) collect(V1_SERIES, out, s1, metric.id, namespace);
    const s2 = unpackAny(metric.data, V2_METRICS, v2.Metrics);
    if (s2) collect(V2_SERIES, out, s2, metric.id, namespace);
  }
  return [...out.values()];
}
