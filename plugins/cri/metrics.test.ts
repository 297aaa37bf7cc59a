import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  LinuxContainerResources,
  type Metric,
  MetricType,
} from '../../api/gen/cri/runtime/v1/api.js';
import {
  CriMetrics,
  LABEL_KEYS,
  POD_CONTAINER,
  containerMetrics,
  metricDescriptors,
  networkMetrics,
} from './metrics.js';
import type { NetDevCounters } from './net-dev.js';
import type { CgroupSample } from './stats.js';
import { type ContainerRecord, CriStore, type SandboxRecord } from './store.js';

const MiB = 1 << 20;

function sample(over: Partial<CgroupSample> = {}): CgroupSample {
  return {
    atNs: 1_700_000_000_500_000_000,
    cpuNs: 2_999_999_999,
    memUsage: 40 * MiB,
    workingSet: 30 * MiB,
    rss: 20 * MiB,
    pageFaults: 9,
    majorPageFaults: 1,
    limit: 64 * MiB,
    swapUsage: 0,
    pids: 3,
    pidsLimit: 0,
    userNs: 1_500_000_000,
    systemNs: 700_000_000,
    cfsPeriods: 10,
    cfsThrottledPeriods: 4,
    cfsThrottledNs: 1_200_000_000,
    cache: 10 * MiB,
    mappedFile: MiB,
    activeFile: 2 * MiB,
    inactiveFile: 10 * MiB,
    kernel: 4096,
    failcnt: 2,
    oomKills: 1,
    maxUsage: 50 * MiB,
    io: [{ major: 253, minor: 0, readBytes: 4096, writeBytes: 8192, reads: 2, writes: 3 }],
    ...over,
  };
}

const iface = (name: string, n: number): NetDevCounters => ({
  name,
  rxBytes: n,
  rxPackets: n + 1,
  rxErrors: n + 2,
  rxDropped: n + 3,
  txBytes: n + 4,
  txPackets: n + 5,
  txErrors: n + 6,
  txDropped: n + 7,
});

const byName = (ms: Metric[]) => new Map(ms.map((m) => [m.name, m]));
const value = (ms: Metric[], name: string) => byName(ms).get(name)?.value?.value;

describe('CRI metrics', () => {
  it('describes every metric it produces, with one label value per label key', () => {
    const descs = new Map(metricDescriptors().map((d) => [d.name, d]));
    expect(descs.size).toBe(metricDescriptors().length); // names are unique
    const labels = ['web', 'default', 'app', 'c1', 'busybox'];
    const produced = [
      ...containerMetrics(
        {
          s: sample(),
          startedAtNs: 1e18,
          resources: LinuxContainerResources.fromJSON({
            cpuPeriod: 100_000,
            cpuQuota: 50_000,
            cpuShares: 512,
            memoryLimitInBytes: 64 * MiB,
            memorySwapLimitInBytes: 128 * MiB,
          }),
          maxUsage: 50 * MiB,
          procs: { processes: 2, fileDescriptors: 9, sockets: 1 },
          fs: {
            device: '/dev/vda',
            limitBytes: 1e9,
            inodesTotal: 1000,
            inodesFree: 900,
            usageBytes: 4096,
          },
        },
        labels,
        () => '/dev/vda',
      ),
      ...networkMetrics([iface('eth0', 10)], labels, 1),
    ];
    // Every metric described is produced from a full view (none is described and never sent).
    const names = new Set(produced.map((m) => m.name));
    for (const d of metricDescriptors()) expect(names, d.name).toContain(d.name);
    expect(produced.length).toBeGreaterThan(0);
    for (const m of produced) {
      const d = descs.get(m.name);
      expect(d, m.name).toBeDefined();
      expect(m.labelValues.length, m.name).toBe(d!.labelKeys.length);
    }
    expect(descs.get('container_cpu_usage_seconds_total')!.labelKeys).toEqual(LABEL_KEYS);
    expect(descs.get('container_network_receive_bytes_total')!.labelKeys).toEqual([
      ...LABEL_KEYS,
      'interface',
    ]);
  });

  it('turns a cgroup sample into cAdvisor-named metrics, seconds rounded down', () => {
    const s = sample();
    const ms = containerMetrics(
      { s, startedAtNs: 1_600_000_000_900_000_000, resources: undefined },
      ['p', 'n', 'c', 'id', 'img'],
    );
    expect(value(ms, 'container_cpu_usage_seconds_total')).toBe(2n);
    expect(value(ms, 'container_cpu_user_seconds_total')).toBe(1n);
    expect(value(ms, 'container_cpu_system_seconds_total')).toBe(0n);
    expect(value(ms, 'container_cpu_cfs_throttled_periods_total')).toBe(4n);
    expect(value(ms, 'container_cpu_cfs_throttled_seconds_total')).toBe(1n);
    expect(value(ms, 'container_memory_working_set_bytes')).toBe(BigInt(30 * MiB));
    expect(value(ms, 'container_memory_usage_bytes')).toBe(BigInt(40 * MiB));
    expect(value(ms, 'container_memory_cache')).toBe(BigInt(10 * MiB));
    expect(value(ms, 'container_spec_memory_limit_bytes')).toBe(BigInt(64 * MiB));
    expect(value(ms, 'container_oom_events_total')).toBe(1n);
    expect(value(ms, 'container_threads')).toBe(3n);
    expect(value(ms, 'container_start_time_seconds')).toBe(1_600_000_000n);
    expect(value(ms, 'container_last_seen')).toBe(1_700_000_000n);
    const cpu = byName(ms).get('container_cpu_usage_seconds_total')!;
    expect(cpu).toMatchObject({
      metricType: MetricType.COUNTER,
      timestamp: BigInt(s.atNs),
      labelValues: ['p', 'n', 'c', 'id', 'img'],
    });
    expect(byName(ms).get('container_memory_usage_bytes')!.metricType).toBe(MetricType.GAUGE);
    // CPU limits that were never set are not reported.
    expect(byName(ms).has('container_spec_cpu_quota')).toBe(false);
    expect(byName(ms).has('container_spec_cpu_shares')).toBe(false);
  });

  it('reports the CPU limits the container was given', () => {
    const ms = containerMetrics(
      {
        s: sample(),
        startedAtNs: 0,
        resources: LinuxContainerResources.fromJSON({
          cpuPeriod: 100_000,
          cpuQuota: 50_000,
          cpuShares: 512,
        }),
      },
      ['p', 'n', 'c', 'id', 'img'],
    );
    expect(value(ms, 'container_spec_cpu_period')).toBe(100_000n);
    expect(value(ms, 'container_spec_cpu_quota')).toBe(50_000n);
    expect(value(ms, 'container_spec_cpu_shares')).toBe(512n);
  });

  it('reports every counter of every interface under the interface label', () => {
    const ms = networkMetrics(
      [iface('eth0', 100), iface('net1', 200)],
      ['p', 'n', 'POD', 's', 'i'],
      7,
    );
    expect(ms).toHaveLength(16);
    const eth0 = ms.filter((m) => m.labelValues[5] === 'eth0');
    expect(new Map(eth0.map((m) => [m.name, m.value!.value]))).toEqual(
      new Map([
        ['container_network_receive_bytes_total', 100n],
        ['container_network_receive_packets_total', 101n],
        ['container_network_receive_errors_total', 102n],
        ['container_network_receive_packets_dropped_total', 103n],
        ['container_network_transmit_bytes_total', 104n],
        ['container_network_transmit_packets_total', 105n],
        ['container_network_transmit_errors_total', 106n],
        ['container_network_transmit_packets_dropped_total', 107n],
      ]),
    );
    expect(eth0.every((m) => m.timestamp === 7n && m.metricType === MetricType.COUNTER)).toBe(true);
  });

  describe('listing pods', () => {
    let dir: string;
    let store: CriStore;

    beforeEach(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-metrics-'));
      store = new CriStore(dir);
      await store.load();
    });

    afterEach(async () => {
      await fs.rm(dir, { recursive: true, force: true });
    });

    const pod = (id: string, state: SandboxRecord['state']): SandboxRecord => ({
      id,
      name: `${id}-name`,
      config: { metadata: { name: `pod-${id}`, namespace: 'ns1', uid: 'u', attempt: 0 } },
      runtimeHandler: '',
      createdAt: 0,
      state,
      ips: [],
      dir,
      image: 'sha256:pause',
      snapshotKey: id,
      pid: 0,
      // no network namespace of its own: no network metrics
      networkDown: true,
    });

    const ctr = (
      id: string,
      sandboxId: string,
      state: ContainerRecord['state'],
    ): ContainerRecord => ({
      id,
      sandboxId,
      name: `${id}-name`,
      config: { metadata: { name: `ctr-${id}`, attempt: 0 } },
      image: 'busybox:latest',
      imageId: 'sha256:b',
      imageRef: 'busybox@sha256:b',
      snapshotKey: id,
      createdAt: 0,
      startedAt: 5e9,
      finishedAt: 0,
      exitCode: 0,
      reason: '',
      message: '',
      state,
      pid: 1,
      logPath: '',
      stopSignal: '',
      uid: 0,
      gid: 0,
      additionalGids: [],
    });

    it('lists ready pods with their running containers, labelled with pod, namespace and names', async () => {
      await store.sandboxes.put(pod('ready', 'ready'));
      await store.sandboxes.put(pod('stopped', 'notready'));
      await store.containers.put(ctr('run', 'ready', 'running'));
      await store.containers.put(ctr('gone', 'ready', 'running')); // exits before its reading
      await store.containers.put(ctr('done', 'ready', 'exited'));
      await store.containers.put(ctr('other', 'stopped', 'running'));
      const read: string[] = [];
      const metrics = new CriMetrics({
        store,
        read: async (id) => {
          read.push(id);
          return id === 'run' ? sample() : undefined;
        },
      });
      const pods = await metrics.list();
      expect(pods.map((p) => p.podSandboxId)).toEqual(['ready']);
      expect(pods[0]!.metrics).toEqual([]);
      expect(pods[0]!.containerMetrics.map((c) => c.containerId)).toEqual(['run']);
      expect(read.sort()).toEqual(['gone', 'run']);
      const cpu = pods[0]!.containerMetrics[0]!.metrics.find(
        (m) => m.name === 'container_cpu_usage_seconds_total',
      )!;
      expect(cpu.labelValues).toEqual(['pod-ready', 'ns1', 'ctr-run', 'run', 'busybox:latest']);
      expect(POD_CONTAINER).toBe('POD');
    });
  });

  it('reports processes, descriptors, the writable layer filesystem and block IO per device', () => {
    const labels = ['web', 'default', 'app', 'c1', 'busybox'];
    const ms = containerMetrics(
      {
        s: sample(),
        startedAtNs: 1e18,
        resources: undefined,
        maxUsage: 50 * MiB,
        procs: { processes: 2, fileDescriptors: 9, sockets: 1 },
        fs: {
          device: '/dev/vda',
          limitBytes: 1e9,
          inodesTotal: 1000,
          inodesFree: 900,
          usageBytes: 4096,
        },
      },
      labels,
      (major, minor) => `dev${major}-${minor}`,
    );
    const value = (name: string, ...extra: string[]) =>
      ms.find((m) => m.name === name && m.labelValues.join() === [...labels, ...extra].join())
        ?.value?.value;
    expect(value('container_processes')).toBe(2n);
    expect(value('container_file_descriptors')).toBe(9n);
    expect(value('container_sockets')).toBe(1n);
    expect(value('container_memory_max_usage_bytes')).toBe(BigInt(50 * MiB));
    expect(value('container_fs_usage_bytes', '/dev/vda')).toBe(4096n);
    expect(value('container_fs_inodes_free', '/dev/vda')).toBe(900n);
    expect(value('container_fs_writes_bytes_total', 'dev253-0')).toBe(8192n);
    expect(value('container_blkio_device_usage_total', 'dev253-0', '253', '0', 'Read')).toBe(4096n);
    expect(value('container_memory_failures_total', 'pgmajfault', 'hierarchy')).toBe(1n);
  });
});
