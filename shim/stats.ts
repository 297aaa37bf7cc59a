// Task metrics from the init process's cgroup, in containerd's cgroups Metrics
// messages: io.containerd.cgroups.v2.Metrics on a unified (v2) host,
// io.containerd.cgroups.v1.Metrics on a legacy or hybrid one. The cgroup comes
// from /proc/<pid>/cgroup, so it is found whatever cgroupsPath runc was given.

import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { errNotFound } from '../core/errors/catalogue.js';
import type { Any } from '../api/gen/google/protobuf/any.js';
import * as v1 from '../api/gen/io/containerd/cgroups/v1/metrics.js';
import * as v2 from '../api/gen/io/containerd/cgroups/v2/metrics.js';
import { packAny } from '../core/protobuf/typeurl.js';

export const V1_METRICS_TYPE_URL = 'io.containerd.cgroups.v1.Metrics';
export const V2_METRICS_TYPE_URL = 'io.containerd.cgroups.v2.Metrics';

const CGROUP_ROOT = '/sys/fs/cgroup';
// USER_HZ: cpuacct.stat counts in clock ticks; 100 on every Linux ABI Node runs on.
const CLOCK_TICKS = 100;

// "Unlimited" reads as ~2^63 in cgroup v1. The generated decoders represent
// uint64 as number and refuse anything above 2^53, so values are clamped there.
function clamp(n: number): number {
  return Number.isFinite(n) ? Math.min(Math.max(n, 0), Number.MAX_SAFE_INTEGER) : 0;
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

async function readNumber(file: string): Promise<number> {
  const t = (await readText(file))?.trim();
  if (!t || t === 'max') return 0;
  return clamp(Number(t));
}

/** "key value" lines (memory.stat, cpu.stat, …) into a map. */
async function readKeyValues(file: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of ((await readText(file)) ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out.set(k, clamp(Number(v)));
  }
  return out;
}

export async function isUnifiedHierarchy(root = CGROUP_ROOT): Promise<boolean> {
  try {
    await stat(path.join(root, 'cgroup.controllers'));
    return true;
  } catch {
    return false;
  }
}

/** controller (or "" for the v2 entry) → cgroup path, from /proc/<pid>/cgroup. */
export async function processCgroups(pid: number): Promise<Map<string, string>> {
  const text = await readText(`/proc/${pid}/cgroup`);
  if (text === undefined) throw errNotFound(`cgroup of pid ${pid}`);
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    for (const c of m[1]!.split(',')) out.set(c, m[2]!);
  }
  return out;
}

export async function collectStats(pid: number): Promise<Any> {
  const groups = await processCgroups(pid);
  if (await isUnifiedHierarchy()) {
    const dir = path.join(CGROUP_ROOT, groups.get('') ?? '/');
    return packAny(V2_METRICS_TYPE_URL, v2.Metrics, await statsV2(dir));
  }
  return packAny(V1_METRICS_TYPE_URL, v1.Metrics, await statsV1(groups));
}

export async function statsV2(dir: string): Promise<v2.Metrics> {
  const f = (name: string) => path.join(dir, name);
  const [cpu, mem, events] = await Promise.all([
    readKeyValues(f('cpu.stat')),
    readKeyValues(f('memory.stat')),
    readKeyValues(f('memory.events')),
  ]);
  const g = (m: Map<string, number>, k: string) => m.get(k) ?? 0;
  const io: v2.IOEntry[] = [];
  for (const line of ((await readText(f('io.stat'))) ?? '').split('\n')) {
    const parts = line.trim().split(/\s+/);
    const dev = /^(\d+):(\d+)$/.exec(parts[0] ?? '');
    if (!dev) continue;
    const kv = new Map(parts.slice(1).map((p) => p.split('=') as [string, string]));
    const n = (k: string) => Number(kv.get(k) ?? 0);
    io.push({
      major: Number(dev[1]),
      minor: Number(dev[2]),
      rbytes: n('rbytes'),
      wbytes: n('wbytes'),
      rios: n('rios'),
      wios: n('wios'),
    });
  }
  return {
    pids: { current: await readNumber(f('pids.current')), limit: await readNumber(f('pids.max')) },
    cpu: {
      usageUsec: g(cpu, 'usage_usec'),
      userUsec: g(cpu, 'user_usec'),
      systemUsec: g(cpu, 'system_usec'),
      nrPeriods: g(cpu, 'nr_periods'),
      nrThrottled: g(cpu, 'nr_throttled'),
      throttledUsec: g(cpu, 'throttled_usec'),
    },
    memory: {
      anon: g(mem, 'anon'),
      file: g(mem, 'file'),
      kernelStack: g(mem, 'kernel_stack'),
      slab: g(mem, 'slab'),
      sock: g(mem, 'sock'),
      shmem: g(mem, 'shmem'),
      fileMapped: g(mem, 'file_mapped'),
      fileDirty: g(mem, 'file_dirty'),
      fileWriteback: g(mem, 'file_writeback'),
      anonThp: g(mem, 'anon_thp'),
      inactiveAnon: g(mem, 'inactive_anon'),
      activeAnon: g(mem, 'active_anon'),
      inactiveFile: g(mem, 'inactive_file'),
      activeFile: g(mem, 'active_file'),
      unevictable: g(mem, 'unevictable'),
      slabReclaimable: g(mem, 'slab_reclaimable'),
      slabUnreclaimable: g(mem, 'slab_unreclaimable'),
      pgfault: g(mem, 'pgfault'),
      pgmajfault: g(mem, 'pgmajfault'),
      workingsetRefault: g(mem, 'workingset_refault'),
      workingsetActivate: g(mem, 'workingset_activate'),
      workingsetNodereclaim: g(mem, 'workingset_nodereclaim'),
      pgrefill: g(mem, 'pgrefill'),
      pgscan: g(mem, 'pgscan'),
      pgsteal: g(mem, 'pgsteal'),
      pgactivate: g(mem, 'pgactivate'),
      pgdeactivate: g(mem, 'pgdeactivate'),
      pglazyfree: g(mem, 'pglazyfree'),
      pglazyfreed: g(mem, 'pglazyfreed'),
      thpFaultAlloc: g(mem, 'thp_fault_alloc'),
      thpCollapseAlloc: g(mem, 'thp_collapse_alloc'),
      usage: await readNumber(f('memory.current')),
      usageLimit: await readNumber(f('memory.max')),
      swapUsage: await readNumber(f('memory.swap.current')),
      swapLimit: await readNumber(f('memory.swap.max')),
    },
    rdma: undefined,
    io: { usage: io },
    hugetlb: [],
    memoryEvents: {
      low: g(events, 'low'),
      high: g(events, 'high'),
      max: g(events, 'max'),
      oom: g(events, 'oom'),
      oomKill: g(events, 'oom_kill'),
    },
  };
}

async function memoryEntry(dir: string, prefix: string): Promise<v1.MemoryEntry> {
  const f = (name: string) => path.join(dir, `${prefix}${name}`);
  return {
    usage: await readNumber(f('usage_in_bytes')),
    max: await readNumber(f('max_usage_in_bytes')),
    limit: await readNumber(f('limit_in_bytes')),
    failcnt: await readNumber(f('failcnt')),
  };
}

/** blkio files: "<maj>:<min> <Op> <value>" lines (or "<maj>:<min> <value>"). */
async function blkioEntries(file: string): Promise<v1.BlkIOEntry[]> {
  const out: v1.BlkIOEntry[] = [];
  for (const line of ((await readText(file)) ?? '').split('\n')) {
    const parts = line.trim().split(/\s+/);
    const dev = /^(\d+):(\d+)$/.exec(parts[0] ?? '');
    if (!dev) continue;
    const [op, value] = parts.length >= 3 ? [parts[1]!, parts[2]!] : ['', parts[1] ?? '0'];
    out.push({
      op,
      device: '',
      major: Number(dev[1]),
      minor: Number(dev[2]),
      value: Number(value),
    });
  }
  return out;
}

export async function statsV1(
  groups: Map<string, string>,
  root = CGROUP_ROOT,
): Promise<v1.Metrics> {
  const dir = (controller: string) => {
    const p = groups.get(controller);
    return p === undefined ? undefined : path.join(root, controller, p);
  };
  const metrics: v1.Metrics = {
    hugetlb: [],
    pids: undefined,
    cpu: undefined,
    memory: undefined,
    blkio: undefined,
    rdma: undefined,
    network: [],
    cgroupStats: undefined,
    memoryOomControl: undefined,
  };

  const pids = dir('pids');
  if (pids) {
    metrics.pids = {
      current: await readNumber(path.join(pids, 'pids.current')),
      limit: await readNumber(path.join(pids, 'pids.max')),
    };
  }

  const cpuacct = dir('cpuacct');
  const cpu = dir('cpu');
  if (cpuacct || cpu) {
    const acct = cpuacct
      ? await readKeyValues(path.join(cpuacct, 'cpuacct.stat'))
      : new Map<string, number>();
    const perCpu = cpuacct
      ? ((await readText(path.join(cpuacct, 'cpuacct.usage_percpu'))) ?? '')
          .trim()
          .split(/\s+/)
          .filter(Boolean)
          .map(Number)
      : [];
    const throttle = cpu
      ? await readKeyValues(path.join(cpu, 'cpu.stat'))
      : new Map<string, number>();
    const ticksToNs = (t: number) => Math.round((t * 1e9) / CLOCK_TICKS);
    metrics.cpu = {
      usage: {
        total: cpuacct ? await readNumber(path.join(cpuacct, 'cpuacct.usage')) : 0,
        kernel: ticksToNs(acct.get('system') ?? 0),
        user: ticksToNs(acct.get('user') ?? 0),
        perCpu,
      },
      throttling: {
        periods: throttle.get('nr_periods') ?? 0,
        throttledPeriods: throttle.get('nr_throttled') ?? 0,
        throttledTime: throttle.get('throttled_time') ?? 0,
      },
    };
  }

  const memory = dir('memory');
  if (memory) {
    const s = await readKeyValues(path.join(memory, 'memory.stat'));
    const g = (k: string) => s.get(k) ?? 0;
    const oom = await readKeyValues(path.join(memory, 'memory.oom_control'));
    metrics.memory = {
      cache: g('cache'),
      rss: g('rss'),
      rssHuge: g('rss_huge'),
      mappedFile: g('mapped_file'),
      dirty: g('dirty'),
      writeback: g('writeback'),
      pgPgIn: g('pgpgin'),
      pgPgOut: g('pgpgout'),
      pgFault: g('pgfault'),
      pgMajFault: g('pgmajfault'),
      inactiveAnon: g('inactive_anon'),
      activeAnon: g('active_anon'),
      inactiveFile: g('inactive_file'),
      activeFile: g('active_file'),
      unevictable: g('unevictable'),
      hierarchicalMemoryLimit: g('hierarchical_memory_limit'),
      hierarchicalSwapLimit: g('hierarchical_memsw_limit'),
      totalCache: g('total_cache'),
      totalRss: g('total_rss'),
      totalRssHuge: g('total_rss_huge'),
      totalMappedFile: g('total_mapped_file'),
      totalDirty: g('total_dirty'),
      totalWriteback: g('total_writeback'),
      totalPgPgIn: g('total_pgpgin'),
      totalPgPgOut: g('total_pgpgout'),
      totalPgFault: g('total_pgfault'),
      totalPgMajFault: g('total_pgmajfault'),
      totalInactiveAnon: g('total_inactive_anon'),
      totalActiveAnon: g('total_active_anon'),
      totalInactiveFile: g('total_inactive_file'),
      totalActiveFile: g('total_active_file'),
      totalUnevictable: g('total_unevictable'),
      usage: await memoryEntry(memory, 'memory.'),
      swap: await memoryEntry(memory, 'memory.memsw.'),
      kernel: await memoryEntry(memory, 'memory.kmem.'),
      kernelTcp: await memoryEntry(memory, 'memory.kmem.tcp.'),
    };
    metrics.memoryOomControl = {
      oomKillDisable: oom.get('oom_kill_disable') ?? 0,
      underOom: oom.get('under_oom') ?? 0,
      oomKill: oom.get('oom_kill') ?? 0,
    };
  }

  const blkio = dir('blkio');
  if (blkio) {
    // The throttle files are populated on every kernel; the CFQ/BFQ ones only with those schedulers.
    const pick = async (name: string) => {
      const own = await blkioEntries(path.join(blkio, `blkio.${name}`));
      return own.length > 0
        ? own
        : blkioEntries(path.join(blkio, `blkio.throttle.${name.replace('_recursive', '')}`));
    };
    metrics.blkio = {
      ioServiceBytesRecursive: await pick('io_service_bytes_recursive'),
      ioServicedRecursive: await pick('io_serviced_recursive'),
      ioQueuedRecursive: await blkioEntries(path.join(blkio, 'blkio.io_queued_recursive')),
      ioServiceTimeRecursive: await blkioEntries(
        path.join(blkio, 'blkio.io_service_time_recursive'),
      ),
      ioWaitTimeRecursive: await blkioEntries(path.join(blkio, 'blkio.io_wait_time_recursive')),
      ioMergedRecursive: await blkioEntries(path.join(blkio, 'blkio.io_merged_recursive')),
      ioTimeRecursive: await blkioEntries(path.join(blkio, 'blkio.time_recursive')),
      sectorsRecursive: await blkioEntries(path.join(blkio, 'blkio.sectors_recursive')),
    };
  }
  return metrics;
}
