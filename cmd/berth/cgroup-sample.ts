// What `berth stats` and `berth tasks metrics` read from a task's cgroup
// metrics: containerd's cgroups v1 or v2 Metrics, whichever the host has,
// packed in an Any by the Tasks Metrics RPC.

import type { Any } from '../../api/gen/google/protobuf/any.js';
import { Metrics as V1Metrics } from '../../api/gen/io/containerd/cgroups/v1/metrics.js';
import { Metrics as V2Metrics } from '../../api/gen/io/containerd/cgroups/v2/metrics.js';
import { stripPrefix, unpackAny } from '../../core/protobuf/typeurl.js';
import type { ResourceSample } from './stats-sample.js';

const V1_TYPE = 'io.containerd.cgroups.v1.Metrics';
const V2_TYPE = 'io.containerd.cgroups.v2.Metrics';

export function unpackCgroupMetrics(data: Any | undefined): { v1?: V1Metrics; v2?: V2Metrics } {
  return { v1: unpackAny(data, V1_TYPE, V1Metrics), v2: unpackAny(data, V2_TYPE, V2Metrics) };
}

/** The metrics as readable JSON, named by their type. */
export function decodeCgroupMetrics(data: Any | undefined): { Type?: string; Metrics?: unknown } {
  const { v1, v2 } = unpackCgroupMetrics(data);
  return {
    Type: data ? stripPrefix(data.typeUrl) : undefined,
    Metrics: v1 ? V1Metrics.toJSON(v1) : v2 ? V2Metrics.toJSON(v2) : undefined,
  };
}

/** v1 blkio lines carry an op per device ("Read", "Write", "Sync", "Total", ...). */
function blkioBytes(entries: { op: string; value: number }[], op: string): number {
  return entries.filter((e) => e.op.toLowerCase() === op).reduce((n, e) => n + e.value, 0);
}

/**
 * One reading of a task's resources. Memory is usage less inactive page cache,
 * as docker and the kubelet count it; an unknown metrics type leaves every
 * figure out.
 */
export function sampleFromCgroup(data: Any | undefined, atNs: number): ResourceSample {
  const { v1, v2 } = unpackCgroupMetrics(data);
  if (v1) {
    const usage = v1.memory?.usage?.usage;
    const blk = v1.blkio?.ioServiceBytesRecursive;
    return {
      atNs,
      cpuNs: v1.cpu?.usage?.total,
      memory:
        usage === undefined ? undefined : Math.max(0, usage - (v1.memory?.totalInactiveFile ?? 0)),
      memoryLimit: v1.memory?.usage?.limit,
      pids: v1.pids?.current,
      blockRead: blk && blkioBytes(blk, 'read'),
      blockWrite: blk && blkioBytes(blk, 'write'),
    };
  }
  if (v2) {
    const usage = v2.memory?.usage;
    const io = v2.io?.usage;
    return {
      atNs,
      cpuNs: v2.cpu ? v2.cpu.usageUsec * 1000 : undefined,
      memory: usage === undefined ? undefined : Math.max(0, usage - (v2.memory?.inactiveFile ?? 0)),
      memoryLimit: v2.memory?.usageLimit,
      pids: v2.pids?.current,
      blockRead: io?.reduce((n, e) => n + e.rbytes, 0),
      blockWrite: io?.reduce((n, e) => n + e.wbytes, 0),
    };
  }
  return { atNs };
}
