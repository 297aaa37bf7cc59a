import { describe, expect, it } from 'vitest';
import * as v1 from '../../api/gen/io/containerd/cgroups/v1/metrics.js';
import * as v2 from '../../api/gen/io/containerd/cgroups/v2/metrics.js';
import { packAny } from '../../core/protobuf/typeurl.js';
import { V1_METRICS, V2_METRICS } from '../cri/stats.js';
import { cgroupFamilies } from './cgroup-metrics.js';
import type { MetricFamily } from './registry.js';

function value(fams: MetricFamily[], name: string, labels: Record<string, string> = {}) {
  const f = fams.find((x) => x.name === name);
  const s = f?.samples.find((x) =>
    Object.entries(labels).every(([k, v]) => x.labels.some(([lk, lv]) => lk === k && lv === v)),
  );
  return s?.value;
}

describe('cgroup metrics as containerd names them', () => {
  it('turns v1 Metrics into container_* gauges labelled by container and namespace', () => {
    const m = v1.Metrics.fromJSON({
      pids: { current: 3, limit: 100 },
      cpu: { usage: { total: 5000, kernel: 1000, user: 4000, perCpu: [2000, 3000] } },
      memory: {
        cache: 10,
        totalRss: 20,
        usage: { usage: 4096, limit: 8192, max: 5000, failcnt: 1 },
      },
      blkio: {
        ioServiceBytesRecursive: [{ op: 'Read', device: '', major: 8, minor: 0, value: 512 }],
      },
      hugetlb: [{ pagesize: '2MB', usage: 0, max: 0, failcnt: 0 }],
    });
    const fams = cgroupFamilies([
      {
        namespace: 'k8s.io',
        metric: { timestamp: undefined, id: 'c1', data: packAny(V1_METRICS, v1.Metrics, m) },
      },
      {
        namespace: 'default',
        metric: { timestamp: undefined, id: 'c2', data: packAny(V1_METRICS, v1.Metrics, m) },
      },
    ]);
    const c1 = { container_id: 'c1', namespace: 'k8s.io' };
    expect(value(fams, 'container_cpu_total_nanoseconds', c1)).toBe(5000);
    expect(value(fams, 'container_per_cpu_nanoseconds', { ...c1, cpu: '1' })).toBe(3000);
    expect(value(fams, 'container_memory_usage_usage_bytes', c1)).toBe(4096);
    expect(value(fams, 'container_memory_usage_limit_bytes', c1)).toBe(8192);
    expect(value(fams, 'container_memory_usage_failcnt_total', c1)).toBe(1);
    expect(value(fams, 'container_memory_cache_bytes', c1)).toBe(10);
    expect(value(fams, 'container_memory_total_rss_bytes', c1)).toBe(20);
    expect(value(fams, 'container_pids_current', c1)).toBe(3);
    expect(value(fams, 'container_pids_limit', c1)).toBe(100);
    expect(
      value(fams, 'container_blkio_io_service_bytes_recursive_bytes', {
        ...c1,
        op: 'Read',
        major: '8',
        minor: '0',
      }),
    ).toBe(512);
    expect(value(fams, 'container_hugetlb_usage_bytes', { ...c1, page: '2MB' })).toBe(0);
    // Both containers in one family each; absent parts (swap) give no family.
    expect(fams.find((f) => f.name === 'container_pids_current')!.samples).toHaveLength(2);
    expect(fams.find((f) => f.name === 'container_memory_swap_usage_bytes')).toBeUndefined();
    expect(fams.every((f) => f.type === 'gauge')).toBe(true);
  });

  it('turns v2 Metrics into their own series and skips unknown types', () => {
    const m = v2.Metrics.fromJSON({
      pids: { current: 2, limit: 0 },
      cpu: { usageUsec: 700, userUsec: 500, systemUsec: 200 },
      memory: { usage: 1024, usageLimit: 2048, anon: 512 },
      memoryEvents: { oom: 1 },
      io: { usage: [{ major: 253, minor: 1, rbytes: 10, wbytes: 20, rios: 1, wios: 2 }] },
    });
    const fams = cgroupFamilies([
      {
        namespace: 'ns',
        metric: { timestamp: undefined, id: 'c', data: packAny(V2_METRICS, v2.Metrics, m) },
      },
      {
        namespace: 'ns',
        metric: {
          timestamp: undefined,
          id: 'odd',
          data: { typeUrl: 'x.Other', value: new Uint8Array() },
        },
      },
    ]);
    const c = { container_id: 'c', namespace: 'ns' };
    expect(value(fams, 'container_cpu_usage_usec_microseconds', c)).toBe(700);
    expect(value(fams, 'container_memory_usage_bytes', c)).toBe(1024);
    expect(value(fams, 'container_memory_anon_bytes', c)).toBe(512);
    expect(value(fams, 'container_memory_oom_total', c)).toBe(1);
    expect(value(fams, 'container_io_wbytes_bytes', { ...c, major: '253', minor: '1' })).toBe(20);
    expect(fams.flatMap((f) => f.samples).some((s) => s.labels.some(([, v]) => v === 'odd'))).toBe(
      false,
    );
  });
});
