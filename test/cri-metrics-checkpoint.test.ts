// The CRI RPCs a kubelet uses for Prometheus metrics, in-place pod resize and
// forensic checkpoints, against a real berthd, berth-shim, runc and CNI:
// ListMetricDescriptors, ListPodSandboxMetrics, UpdatePodSandboxResources and
// CheckpointContainer (real with CRIU where `criu check` passes, otherwise the
// FailedPrecondition naming why).

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Metric } from '../api/gen/cri/runtime/v1/api.js';
import { type CriEnv, grpcCode, podConfig, startCriEnv, waitFor } from './helpers/cri.js';

const isRoot = process.getuid?.() === 0;
const haveCni = existsSync('/usr/lib/cni/bridge');
const MiB = 1024 * 1024;

/** Whether this host can checkpoint, asked of criu itself: undefined, or its complaint. */
function criuComplaint(): string | undefined {
  const r = spawnSync('criu', ['check'], { encoding: 'utf8' });
  if (r.error) return 'CRIU is not installed';
  if (r.status === 0) return undefined;
  return (
    `${r.stderr}\n${r.stdout}`
      .split('\n')
      .map((l) => l.trim())
      .find((l) => /^error\b/i.test(l)) ?? 'check` failed'
  );
}

describe.skipIf(!isRoot || !haveCni)('CRI metrics, pod resources and checkpoint', () => {
  let env: CriEnv;

  beforeAll(async () => {
    env = await startCriEnv();
  });

  afterAll(async () => {
    await env?.dispose();
  });

  const logDir = (pod: string) => path.join(env.work, 'logs', pod);

  async function runPod(name: string) {
    const config = podConfig(name, logDir(name));
    const { podSandboxId } = await env.cri.runtime.runPodSandbox({ config });
    return { podSandboxId, config };
  }

  async function createContainer(
    pod: { podSandboxId: string; config: Record<string, unknown> },
    config: Record<string, unknown>,
  ): Promise<string> {
    const { containerId } = await env.cri.runtime.createContainer({
      podSandboxId: pod.podSandboxId,
      config: { image: { image: 'busybox' }, ...config },
      sandboxConfig: pod.config,
    });
    return containerId;
  }

  async function startContainer(
    pod: { podSandboxId: string; config: Record<string, unknown> },
    config: Record<string, unknown>,
  ): Promise<string> {
    const containerId = await createContainer(pod, config);
    await env.cri.runtime.startContainer({ containerId });
    return containerId;
  }

  const rejection = (p: Promise<unknown>) =>
    p.then(
      () => ({ code: 0, details: '' }),
      (e: { code?: number; details?: string }) => ({ code: e.code, details: e.details ?? '' }),
    );

  it('describes its metrics and reports a running pod in them, as its stats do', async () => {
    const { descriptors } = await env.cri.runtime.listMetricDescriptors({});
    const described = new Map(descriptors.map((d) => [d.name, d.labelKeys]));
    for (const name of [
      'container_cpu_usage_seconds_total',
      'container_memory_working_set_bytes',
      'container_memory_usage_bytes',
      'container_spec_memory_limit_bytes',
      'container_threads',
      'container_network_receive_bytes_total',
      'container_network_transmit_bytes_total',
    ]) {
      expect(described.has(name), name).toBe(true);
    }
    expect(described.get('container_cpu_usage_seconds_total')).toEqual([
      'pod',
      'namespace',
      'container',
      'id',
      'image',
    ]);

    const pod = await runPod('metrics');
    const containerId = await startContainer(pod, {
      metadata: { name: 'burner' },
      command: ['sh', '-c', 'while :; do :; done'],
      linux: { resources: { memoryLimitInBytes: 64 * MiB } },
      logPath: 'burner.log',
    });
    const cpuNs = async () =>
      Number(
        (await env.cri.runtime.containerStats({ containerId })).stats?.cpu?.usageCoreNanoSeconds
          ?.value ?? 0n,
      );
    // A whole CPU second first, so the (whole-second) counter has something to show.
    await waitFor(cpuNs, (n) => n >= 1e9, 90_000);
    const podNet = async () =>
      (await env.cri.runtime.podSandboxStats({ podSandboxId: pod.podSandboxId })).stats?.linux
        ?.network?.interfaces ?? [];
    const [cpuBefore, netBefore] = [await cpuNs(), await podNet()];
    const { podMetrics } = await env.cri.runtime.listPodSandboxMetrics({});
    const [cpuAfter, netAfter] = [await cpuNs(), await podNet()];

    const pm = podMetrics.find((p) => p.podSandboxId === pod.podSandboxId)!;
    expect(pm).toBeDefined();
    const all: Metric[] = [...pm.metrics, ...pm.containerMetrics.flatMap((c) => c.metrics)];
    for (const m of all) {
      expect(m.labelValues.length, m.name).toBe(described.get(m.name)?.length);
    }

    const cm = pm.containerMetrics.find((c) => c.containerId === containerId)!;
    const get = (name: string) => cm.metrics.find((m) => m.name === name)!;
    const cpu = get('container_cpu_usage_seconds_total');
    expect(cpu.labelValues).toEqual(['metrics', 'default', 'burner', containerId, 'busybox']);
    expect(Number(cpu.value!.value)).toBeGreaterThanOrEqual(Math.floor(cpuBefore / 1e9));
    expect(Number(cpu.value!.value)).toBeLessThanOrEqual(Math.floor(cpuAfter / 1e9));
    expect(get('container_spec_memory_limit_bytes').value!.value).toBe(BigInt(64 * MiB));
    expect(Number(get('container_memory_working_set_bytes').value!.value)).toBeGreaterThan(0);
    expect(Number(get('container_threads').value!.value)).toBeGreaterThanOrEqual(1);

    const rx = pm.metrics.find(
      (m) => m.name === 'container_network_receive_bytes_total' && m.labelValues[5] === 'eth0',
    )!;
    expect(rx.labelValues.slice(0, 4)).toEqual(['metrics', 'default', 'POD', pod.podSandboxId]);
    const eth0 = (l: typeof netBefore) => Number(l.find((i) => i.name === 'eth0')!.rxBytes!.value);
    expect(Number(rx.value!.value)).toBeGreaterThanOrEqual(eth0(netBefore));
    expect(Number(rx.value!.value)).toBeLessThanOrEqual(eth0(netAfter));

    // A stopped pod has nothing left to measure.
    await env.cri.runtime.stopPodSandbox({ podSandboxId: pod.podSandboxId });
    const later = await env.cri.runtime.listPodSandboxMetrics({});
    expect(later.podMetrics.map((p) => p.podSandboxId)).not.toContain(pod.podSandboxId);
    await env.cri.runtime.removePodSandbox({ podSandboxId: pod.podSandboxId });
  });

  it('records the pod-level resources of an in-place resize on the sandbox', async () => {
    const pod = await runPod('resize');
    await env.cri.runtime.updatePodSandboxResources({
      podSandboxId: pod.podSandboxId,
      overhead: { cpuShares: 64 },
      resources: { cpuQuota: 50_000, cpuPeriod: 100_000, memoryLimitInBytes: 128 * MiB },
    });
    const st = await env.cri.runtime.podSandboxStatus({
      podSandboxId: pod.podSandboxId,
      verbose: true,
    });
    const linux = JSON.parse(st.info.info!).config.linux;
    expect(linux.overhead).toEqual({ cpuShares: '64' });
    expect(linux.resources).toEqual({
      cpuQuota: '50000',
      cpuPeriod: '100000',
      memoryLimitInBytes: String(128 * MiB),
    });
    expect(
      grpcCode(
        await env.cri.runtime.updatePodSandboxResources({ podSandboxId: 'nope' }).catch((e) => e),
      ),
    ).toBe(grpcStatus.NOT_FOUND);
    expect(grpcCode(await env.cri.runtime.updatePodSandboxResources({}).catch((e) => e))).toBe(
      grpcStatus.INVALID_ARGUMENT,
    );
    await env.cri.runtime.removePodSandbox({ podSandboxId: pod.podSandboxId });
  });

  it('checkpoints a running container into an archive, or says why this host cannot', async () => {
    const pod = await runPod('ckpt');
    const containerId = await startContainer(pod, {
      metadata: { name: 'sleeper' },
      command: ['sleep', '3600'],
      logPath: 'sleeper.log',
    });
    const dir = path.join(env.work, 'checkpoints');
    await fs.mkdir(dir);
    const location = path.join(dir, 'sleeper.tar');

    const complaint = criuComplaint();
    if (complaint === undefined) {
      console.log('criu check passes here: checking a real checkpoint archive');
      await env.cri.runtime.checkpointContainer({ containerId, location, timeout: 300 });
      const list = spawnSync('tar', ['-tf', location], { encoding: 'utf8' });
      expect(list.status).toBe(0);
      const names = list.stdout.split('\n');
      for (const f of ['checkpoint/inventory.img', 'config.dump', 'spec.dump', 'status.dump']) {
        expect(names, f).toContain(f);
      }
      const config = spawnSync('tar', ['-xOf', location, 'config.dump'], { encoding: 'utf8' });
      expect(JSON.parse(config.stdout)).toMatchObject({ id: containerId, rootfsImage: 'busybox' });
      // Forensic checkpoints leave the container running.
      const st = await env.cri.runtime.containerStatus({ containerId });
      expect(st.status!.state).toBe(1); // CONTAINER_RUNNING
    } else {
      console.log(`criu check fails here (${complaint}): expecting FailedPrecondition`);
      const r = await rejection(env.cri.runtime.checkpointContainer({ containerId, location }));
      expect(r.code).toBe(grpcStatus.FAILED_PRECONDITION);
      expect(r.details).toContain(complaint);
      expect(existsSync(location)).toBe(false);
      expect(await fs.readdir(dir)).toEqual([]);
    }

    // Whatever the host: bad requests and containers that are not running.
    const notStarted = await createContainer(pod, {
      metadata: { name: 'idle' },
      command: ['true'],
      logPath: 'idle.log',
    });
    const idle = await rejection(
      env.cri.runtime.checkpointContainer({ containerId: notStarted, location }),
    );
    expect(idle.code).toBe(grpcStatus.FAILED_PRECONDITION);
    expect(idle.details).toMatch(/only running containers can be checkpointed/);
    const bad = [{ containerId, location: 'relative.tar' }, { containerId }, { location }];
    for (const req of bad) {
      expect((await rejection(env.cri.runtime.checkpointContainer(req))).code).toBe(
        grpcStatus.INVALID_ARGUMENT,
      );
    }
    expect(
      (await rejection(env.cri.runtime.checkpointContainer({ containerId: 'nope', location })))
        .code,
    ).toBe(grpcStatus.NOT_FOUND);
    await env.cri.runtime.removePodSandbox({ podSandboxId: pod.podSandboxId });
  });
});
