import { describe, expect, it } from 'vitest';
import * as v1 from '../../api/gen/io/containerd/cgroups/v1/metrics.js';
import * as v2 from '../../api/gen/io/containerd/cgroups/v2/metrics.js';
import { packAny } from '../../core/protobuf/typeurl.js';
import { V1_METRICS, V2_METRICS, nanoCores, parseNetDev, sampleFromMetrics } from './stats.js';

const MiB = 1 << 20;

describe('CRI stats', () => {
  it('reads cgroup v1 metrics: working set is usage minus inactive file, memsw minus usage is swap', () => {
    const m = v1.Metrics.fromJSON({
      cpu: { usage: { total: 5_000_000 } },
      memory: {
        usage: { usage: 100 * MiB, limit: 64 * MiB },
        swap: { usage: 110 * MiB },
        totalInactiveFile: 30 * MiB,
        totalRss: 60 * MiB,
        totalPgFault: 7,
        totalPgMajFault: 1,
      },
      pids: { current: 3 },
    });
    const s = sampleFromMetrics(packAny(V1_METRICS, v1.Metrics, m), 42)!;
    expect(s).toMatchObject({
      atNs: 42,
      cpuNs: 5_000_000,
      memUsage: 100 * MiB,
      workingSet: 70 * MiB,
      rss: 60 * MiB,
      limit: 64 * MiB,
      swapUsage: 10 * MiB,
      pageFaults: 7,
      majorPageFaults: 1,
      pids: 3,
    });
    // v1's "no limit" (2^63, clamped by the shim) is no limit.
    m.memory!.usage!.limit = Number.MAX_SAFE_INTEGER;
    expect(sampleFromMetrics(packAny(V1_METRICS, v1.Metrics, m), 0)!.limit).toBe(0);
  });

  it('reads cgroup v2 metrics: usage_usec in ns, anon as rss', () => {
    const m = v2.Metrics.fromJSON({
      cpu: { usageUsec: 1500 },
      memory: { usage: 50 * MiB, inactiveFile: 60 * MiB, anon: 20 * MiB, usageLimit: 0 },
      pids: { current: 2 },
    });
    const s = sampleFromMetrics(packAny(V2_METRICS, v2.Metrics, m), 1)!;
    expect(s).toMatchObject({ cpuNs: 1_500_000, workingSet: 0, rss: 20 * MiB, limit: 0, pids: 2 });
    expect(sampleFromMetrics({ typeUrl: 'other', value: new Uint8Array() }, 0)).toBeUndefined();
  });

  it('keeps the CPU split, throttling, page cache and OOM counts of v1 and v2 for metrics', () => {
    const m1 = v1.Metrics.fromJSON({
      cpu: {
        usage: { total: 9, user: 5, kernel: 3 },
        throttling: { periods: 10, throttledPeriods: 2, throttledTime: 700 },
      },
      memory: {
        usage: { usage: 10, failcnt: 4 },
        kernel: { usage: 6 },
        totalCache: 7,
        totalMappedFile: 1,
        totalActiveFile: 2,
        totalInactiveFile: 3,
      },
      memoryOomControl: { oomKill: 1 },
      pids: { current: 2, limit: 100 },
    });
    expect(sampleFromMetrics(packAny(V1_METRICS, v1.Metrics, m1), 0)).toMatchObject({
      userNs: 5,
      systemNs: 3,
      cfsPeriods: 10,
      cfsThrottledPeriods: 2,
      cfsThrottledNs: 700,
      cache: 7,
      mappedFile: 1,
      activeFile: 2,
      inactiveFile: 3,
      kernel: 6,
      failcnt: 4,
      oomKills: 1,
      pidsLimit: 100,
    });
    const m2 = v2.Metrics.fromJSON({
      cpu: { userUsec: 5, systemUsec: 3, nrPeriods: 10, nrThrottled: 2, throttledUsec: 7 },
      memory: { file: 7, fileMapped: 1, activeFile: 2, inactiveFile: 3, kernelStack: 6 },
      memoryEvents: { max: 4, oomKill: 1 },
      pids: { current: 2, limit: 0 },
    });
    expect(sampleFromMetrics(packAny(V2_METRICS, v2.Metrics, m2), 0)).toMatchObject({
      userNs: 5000,
      systemNs: 3000,
      cfsPeriods: 10,
      cfsThrottledPeriods: 2,
      cfsThrottledNs: 7000,
      cache: 7,
      mappedFile: 1,
      activeFile: 2,
      inactiveFile: 3,
      kernel: 6,
      failcnt: 4,
      oomKills: 1,
      pidsLimit: 0,
    });
  });

  it('computes nano cores from two samples', () => {
    const base = sampleFromMetrics(
      packAny(V2_METRICS, v2.Metrics, v2.Metrics.fromJSON({ cpu: { usageUsec: 0 } })),
      0,
    )!;
    // 50 ms of CPU in 100 ms of wall time is half a core.
    expect(nanoCores(base, { ...base, atNs: 100e6, cpuNs: 50e6 })).toBe(500_000_000);
    expect(nanoCores(base, { ...base, atNs: 0, cpuNs: 50e6 })).toBe(0);
    expect(nanoCores({ ...base, cpuNs: 10 }, { ...base, atNs: 1e6, cpuNs: 5 })).toBe(0);
  });

  it('parses /proc/<pid>/net/dev without loopback', () => {
    const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    2048      10    1    0    0     0          0         0     4096      20    2    0    0     0       0          0
`;
    expect(parseNetDev(text)).toEqual([
      {
        name: 'eth0',
        rxBytes: { value: 2048n },
        rxErrors: { value: 1n },
        txBytes: { value: 4096n },
        txErrors: { value: 2n },
      },
    ]);
  });
});
