import { describe, expect, it } from 'vitest';
import { Metrics as V1Metrics } from '../../api/gen/io/containerd/cgroups/v1/metrics.js';
import { Metrics as V2Metrics } from '../../api/gen/io/containerd/cgroups/v2/metrics.js';
import { packAny } from '../../core/protobuf/typeurl.js';
import { sampleFromCgroup } from './cgroup-sample.js';
import { cpuPercent, effectiveMemoryLimit, statsRow } from './stats-sample.js';

const S = 1e9;

describe('CPU %', () => {
  it('is CPU time over wall time, 100 for one busy core', () => {
    expect(cpuPercent({ atNs: 0, cpuNs: 0 }, { atNs: 2 * S, cpuNs: 2 * S })).toBe(100);
    expect(cpuPercent({ atNs: 10 * S, cpuNs: 5 * S }, { atNs: 11 * S, cpuNs: 6.5 * S })).toBe(150);
    expect(cpuPercent({ atNs: 0, cpuNs: 7 }, { atNs: S, cpuNs: 7 })).toBe(0);
  });

  it('is unknown without two readings, with no time between them, or when the counter went back', () => {
    expect(cpuPercent(undefined, { atNs: S, cpuNs: S })).toBeUndefined();
    expect(cpuPercent({ atNs: 0 }, { atNs: S, cpuNs: S })).toBeUndefined();
    expect(cpuPercent({ atNs: S, cpuNs: 0 }, { atNs: S, cpuNs: S })).toBeUndefined();
    expect(cpuPercent({ atNs: 0, cpuNs: 5 * S }, { atNs: S, cpuNs: S })).toBeUndefined();
  });
});

describe('stats rows', () => {
  it('take the host memory as the limit when there is none', () => {
    expect(effectiveMemoryLimit(0, 8e9)).toBe(8e9);
    expect(effectiveMemoryLimit(2 ** 53, 8e9)).toBe(8e9);
    expect(effectiveMemoryLimit(undefined, 8e9)).toBe(8e9);
    expect(effectiveMemoryLimit(256e6, 8e9)).toBe(256e6);
  });

  it('round percentages and leave unknown figures null', () => {
    const row = statsRow(
      { ID: 'c1' },
      { atNs: 0, cpuNs: 0 },
      { atNs: 3 * S, cpuNs: 1 * S, memory: 1_000_000, memoryLimit: 3_000_000, pids: 2 },
    );
    expect(row).toEqual({
      ID: 'c1',
      CPUPercent: 33.33,
      MemoryUsage: 1_000_000,
      MemoryLimit: 3_000_000,
      MemoryPercent: 33.33,
      Pids: 2,
      NetRx: null,
      NetTx: null,
      BlockRead: null,
      BlockWrite: null,
    });
    const empty = statsRow({ ID: 'stopped' }, undefined, { atNs: S });
    expect(Object.values(empty).filter((v) => v !== null)).toEqual(['stopped']);
  });
});

describe('cgroup readings', () => {
  it('v1: CPU total, memory without inactive file pages, pids, blkio read and write bytes', () => {
    const m = V1Metrics.fromJSON({
      cpu: { usage: { total: 42 } },
      memory: { usage: { usage: 1000, limit: 4096 }, totalInactiveFile: 300 },
      pids: { current: 3 },
      blkio: {
        ioServiceBytesRecursive: [
          { op: 'Read', major: 8, minor: 0, value: 10 },
          { op: 'Write', major: 8, minor: 0, value: 20 },
          { op: 'Total', major: 8, minor: 0, value: 30 },
          { op: 'Read', major: 8, minor: 16, value: 5 },
        ],
      },
    });
    const s = sampleFromCgroup(packAny('io.containerd.cgroups.v1.Metrics', V1Metrics, m), 7);
    expect(s).toEqual({
      atNs: 7,
      cpuNs: 42,
      memory: 700,
      memoryLimit: 4096,
      pids: 3,
      blockRead: 15,
      blockWrite: 20,
    });
  });

  it('v2: usec CPU in ns, memory without inactive file pages, io bytes over devices', () => {
    const m = V2Metrics.fromJSON({
      cpu: { usageUsec: 5 },
      memory: { usage: 2000, usageLimit: 8192, inactiveFile: 500 },
      pids: { current: 1 },
      io: {
        usage: [
          { major: 8, minor: 0, rbytes: 1, wbytes: 2 },
          { major: 8, minor: 16, rbytes: 3, wbytes: 4 },
        ],
      },
    });
    const s = sampleFromCgroup(packAny('io.containerd.cgroups.v2.Metrics', V2Metrics, m), 9);
    expect(s).toEqual({
      atNs: 9,
      cpuNs: 5000,
      memory: 1500,
      memoryLimit: 8192,
      pids: 1,
      blockRead: 4,
      blockWrite: 6,
    });
  });

  it('an unknown metrics type has no figures', () => {
    expect(sampleFromCgroup({ typeUrl: 'x.Other', value: new Uint8Array() }, 1)).toEqual({
      atNs: 1,
    });
    expect(sampleFromCgroup(undefined, 1)).toEqual({ atNs: 1 });
  });
});
