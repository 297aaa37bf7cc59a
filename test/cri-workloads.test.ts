// CRI runtime.v1 beyond the seed flow, against a real berthd, berth-shim, runc
// and Debian's CNI plugins: OOM kills, log rotation, a pod whose containers
// share the network, filters, stats and resource updates.

import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CriEnv, podConfig, startCriEnv, waitFor } from './helpers/cri.js';

const isRoot = process.getuid?.() === 0;
const haveCni = existsSync('/usr/lib/cni/bridge');
const MiB = 1024 * 1024;

describe.skipIf(!isRoot || !haveCni)('CRI workloads', () => {
  let env: CriEnv;

  beforeAll(async () => {
    env = await startCriEnv();
  });

  afterAll(async () => {
    await env?.dispose();
  });

  const logDir = (pod: string) => path.join(env.work, 'logs', pod);

  async function runPod(name: string, extra: Record<string, unknown> = {}) {
    const config = podConfig(name, logDir(name), extra);
    const { podSandboxId } = await env.cri.runtime.runPodSandbox({ config });
    return { podSandboxId, config };
  }

  async function startContainer(
    pod: { podSandboxId: string; config: Record<string, unknown> },
    config: Record<string, unknown>,
  ): Promise<string> {
    const { containerId } = await env.cri.runtime.createContainer({
      podSandboxId: pod.podSandboxId,
      config: { image: { image: 'busybox' }, ...config },
      sandboxConfig: pod.config,
    });
    await env.cri.runtime.startContainer({ containerId });
    return containerId;
  }

  const status = async (containerId: string) =>
    (await env.cri.runtime.containerStatus({ containerId })).status!;

  it('reports a container killed by its memory limit as OOMKilled', async () => {
    const pod = await runPod('oom');
    const containerId = await startContainer(pod, {
      metadata: { name: 'hog' },
      // tail keeps the last lines in memory, and zeros hold no newline: far more than the limit.
      command: ['sh', '-c', 'head -c 200m /dev/zero | tail >/dev/null'],
      linux: {
        resources: {
          memoryLimitInBytes: 32 * MiB,
          memorySwapLimitInBytes: 32 * MiB,
        },
      },
      logPath: 'hog.log',
    });
    const st = await waitFor(
      () => status(containerId),
      (s) => s.state === 2,
      30_000,
    );
    expect(st).toMatchObject({ state: 2, reason: 'OOMKilled' });
    expect(st.exitCode).not.toBe(0);
    await env.cri.runtime.removePodSandbox({ podSandboxId: pod.podSandboxId });
  });

  it('a container that runc cannot create fails alone: the pod and its other containers keep running', async () => {
    const pod = await runPod('failing');
    const keeper = await startContainer(pod, {
      metadata: { name: 'keeper' },
      command: ['sleep', '300'],
      logPath: 'keeper.log',
    });
    const { containerId: bad } = await env.cri.runtime.createContainer({
      podSandboxId: pod.podSandboxId,
      // No such CPU: runc create fails writing the cgroup, inside the pod's shim.
      config: {
        metadata: { name: 'bad' },
        image: { image: 'busybox' },
        command: ['true'],
        logPath: 'bad.log',
        linux: { resources: { cpusetCpus: '1023' } },
      },
      sandboxConfig: pod.config,
    });
    await expect(env.cri.runtime.startContainer({ containerId: bad })).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 500)); // a shim shutting down would be seen by now
    expect((await status(keeper)).state).toBe(1); // CONTAINER_RUNNING
    const sandbox = await env.cri.runtime.podSandboxStatus({ podSandboxId: pod.podSandboxId });
    expect(sandbox.status!.state).toBe(0); // SANDBOX_READY
    const exec = await env.cri.runtime.execSync({
      containerId: keeper,
      cmd: ['echo', 'alive'],
      timeout: 10,
    });
    expect(Buffer.from(exec.stdout).toString()).toBe('alive\n');
    await env.cri.runtime.removeContainer({ containerId: bad });
    await env.cri.runtime.stopPodSandbox({ podSandboxId: pod.podSandboxId });
    await env.cri.runtime.removePodSandbox({ podSandboxId: pod.podSandboxId });
  });

  it('writes to a fresh file after ReopenContainerLog following a rename', async () => {
    const pod = await runPod('rotate');
    const containerId = await startContainer(pod, {
      metadata: { name: 'ticker' },
      command: ['sh', '-c', 'i=0; while true; do echo "line $i"; i=$((i+1)); sleep 0.1; done'],
      logPath: 'ticker/0.log',
    });
    const file = path.join(logDir('rotate'), 'ticker', '0.log');
    await waitFor(
      () => fs.readFile(file, 'utf8').catch(() => ''),
      (t) => t.includes('line 3'),
    );
    await fs.rename(file, `${file}.20240101`);
    await env.cri.runtime.reopenContainerLog({ containerId });
    const fresh = await waitFor(
      () => fs.readFile(file, 'utf8').catch(() => ''),
      (t) => t.split('\n').length > 4,
    );
    const rotated = await fs.readFile(`${file}.20240101`, 'utf8');
    const numbers = (t: string) =>
      t
        .trim()
        .split('\n')
        .map((l) => Number(/ stdout F line (\d+)$/.exec(l)?.[1]));
    const before = numbers(rotated);
    const after = numbers(fresh);
    expect(before.every(Number.isInteger) && after.every(Number.isInteger)).toBe(true);
    // Nothing is lost or repeated across the rotation: the new file continues the sequence.
    expect(after[0]).toBe(before[before.length - 1]! + 1);
    // A stopped container has no log to reopen.
    await env.cri.runtime.stopContainer({ containerId, timeout: 1 });
    await expect(env.cri.runtime.reopenContainerLog({ containerId })).rejects.toMatchObject({
      code: grpcStatus.FAILED_PRECONDITION,
    });
    await env.cri.runtime.removePodSandbox({ podSandboxId: pod.podSandboxId });
  });

  it('runs two containers sharing the pod network: one serves httpd, the other fetches over localhost', async () => {
    const pod = await runPod('duo');
    const server = await startContainer(pod, {
      metadata: { name: 'server' },
      command: [
        'sh',
        '-c',
        'mkdir -p /www && echo "served by $(hostname)" > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www',
      ],
      logPath: 'server.log',
    });
    const client = await startContainer(pod, {
      metadata: { name: 'client' },
      command: [
        'sh',
        '-c',
        'for i in $(seq 1 50); do wget -q -O - http://127.0.0.1:8080/index.html && exit 0; sleep 0.1; done; exit 1',
      ],
      logPath: 'client.log',
    });
    const st = await waitFor(
      () => status(client),
      (s) => s.state === 2,
      20_000,
    );
    expect(st).toMatchObject({ state: 2, exitCode: 0, reason: 'Completed' });
    const log = await fs.readFile(path.join(logDir('duo'), 'client.log'), 'utf8');
    expect(log).toMatch(/ stdout F served by duo$/m);
    // httpd listens on the pod's loopback only: the host cannot see it on its own loopback.
    expect((await status(server)).state).toBe(1);
    await env.cri.runtime.removePodSandbox({ podSandboxId: pod.podSandboxId });
  });

  it('filters pods and containers by id prefix, state and labels', async () => {
    const a = await runPod('filter-a', { labels: { team: 'red', tier: 'web' } });
    const b = await runPod('filter-b', { labels: { team: 'blue', tier: 'web' } });
    const runningA = await startContainer(a, {
      metadata: { name: 'run' },
      command: ['sleep', '300'],
      labels: { role: 'main' },
    });
    const createdA = (
      await env.cri.runtime.createContainer({
        podSandboxId: a.podSandboxId,
        config: {
          metadata: { name: 'idle' },
          image: { image: 'busybox' },
          command: ['true'],
          labels: { role: 'side' },
        },
        sandboxConfig: a.config,
      })
    ).containerId;
    const runningB = await startContainer(b, {
      metadata: { name: 'run' },
      command: ['sleep', '300'],
      labels: { role: 'main' },
    });
    const ids = async (filter: Record<string, unknown>) =>
      (await env.cri.runtime.listContainers({ filter })).containers.map((c) => c.id).sort();
    const pods = async (filter: Record<string, unknown>) =>
      (await env.cri.runtime.listPodSandbox({ filter })).items.map((p) => p.id).sort();

    expect(await pods({ labelSelector: { tier: 'web' } })).toEqual(
      [a.podSandboxId, b.podSandboxId].sort(),
    );
    expect(await pods({ labelSelector: { team: 'red', tier: 'web' } })).toEqual([a.podSandboxId]);
    expect(await pods({ labelSelector: { team: 'green' } })).toEqual([]);
    expect(await pods({ id: b.podSandboxId.slice(0, 12) })).toEqual([b.podSandboxId]);

    expect(await ids({ podSandboxId: a.podSandboxId })).toEqual([runningA, createdA].sort());
    expect(await ids({ podSandboxId: a.podSandboxId, state: { state: 0 } })).toEqual([createdA]);
    expect(await ids({ labelSelector: { role: 'main' } })).toEqual([runningA, runningB].sort());
    expect(
      await ids({ podSandboxId: b.podSandboxId.slice(0, 10), labelSelector: { role: 'main' } }),
    ).toEqual([runningB]);
    expect(await ids({ id: createdA.slice(0, 12), state: { state: 1 } })).toEqual([]);

    await env.cri.runtime.stopPodSandbox({ podSandboxId: b.podSandboxId });
    expect(await pods({ labelSelector: { tier: 'web' }, state: { state: 0 } })).toEqual([
      a.podSandboxId,
    ]);
    expect(await pods({ state: { state: 1 } })).toContain(b.podSandboxId);
    expect(await ids({ state: { state: 2 } })).toContain(runningB);
    await env.cri.runtime.removePodSandbox({ podSandboxId: a.podSandboxId });
    await env.cri.runtime.removePodSandbox({ podSandboxId: b.podSandboxId });
  });

  it('reports container and pod stats and applies resource updates to the running task', async () => {
    const pod = await runPod('stats');
    const containerId = await startContainer(pod, {
      metadata: { name: 'busy' },
      // 8 MiB in a tmpfs-free writable layer, then a busy loop.
      command: [
        'sh',
        '-c',
        'dd if=/dev/zero of=/blob bs=1M count=8 2>/dev/null; while :; do :; done',
      ],
      labels: { load: 'cpu' },
      linux: { resources: { memoryLimitInBytes: 256 * MiB } },
    });
    const st = await waitFor(
      () => env.cri.runtime.containerStats({ containerId }),
      (r) => Number(r.stats?.writableLayer?.usedBytes?.value ?? 0n) >= 8 * MiB,
    );
    const s = st.stats!;
    expect(s.attributes?.id).toBe(containerId);
    expect(s.attributes?.labels).toEqual({ load: 'cpu' });
    expect(s.cpu!.usageCoreNanoSeconds!.value).toBeGreaterThan(0n);
    // A busy loop uses about one core (leave room for a loaded machine).
    expect(Number(s.cpu!.usageNanoCores!.value)).toBeGreaterThan(0.2e9);
    expect(s.memory!.workingSetBytes!.value).toBeGreaterThan(0n);
    expect(s.memory!.usageBytes!.value).toBeGreaterThanOrEqual(s.memory!.workingSetBytes!.value);
    expect(Number(s.memory!.availableBytes!.value)).toBeLessThanOrEqual(256 * MiB);
    expect(s.writableLayer!.fsId!.mountpoint).toContain('overlayfs');

    const list = await env.cri.runtime.listContainerStats({
      filter: { podSandboxId: pod.podSandboxId, labelSelector: { load: 'cpu' } },
    });
    expect(list.stats.map((x) => x.attributes?.id)).toEqual([containerId]);
    expect(
      (await env.cri.runtime.listContainerStats({ filter: { labelSelector: { load: 'none' } } }))
        .stats,
    ).toEqual([]);

    const ps = (await env.cri.runtime.podSandboxStats({ podSandboxId: pod.podSandboxId })).stats!;
    expect(ps.attributes?.id).toBe(pod.podSandboxId);
    expect(ps.linux!.containers.map((c) => c.attributes?.id)).toEqual([containerId]);
    expect(ps.linux!.cpu!.usageCoreNanoSeconds!.value).toBeGreaterThanOrEqual(
      s.cpu!.usageCoreNanoSeconds!.value,
    );
    expect(ps.linux!.memory!.workingSetBytes!.value).toBeGreaterThan(0n);
    expect(Number(ps.linux!.process!.processCount!.value)).toBeGreaterThanOrEqual(2);
    expect(ps.linux!.network!.defaultInterface?.name).toBe('eth0');
    expect(ps.linux!.network!.interfaces.some((i) => i.name === 'lo')).toBe(false);
    const listed = await env.cri.runtime.listPodSandboxStats({
      filter: { labelSelector: { app: 'stats' } },
    });
    expect(listed.stats.map((x) => x.attributes?.id)).toEqual([pod.podSandboxId]);

    // Halve the CPU and lower the memory limit of the running container.
    await env.cri.runtime.updateContainerResources({
      containerId,
      linux: { cpuPeriod: 100_000, cpuQuota: 20_000, memoryLimitInBytes: 128 * MiB },
    });
    const info = JSON.parse(
      (await env.cri.runtime.containerStatus({ containerId, verbose: true })).info.info!,
    ) as { pid: number };
    const cg = (await fs.readFile(`/proc/${info.pid}/cgroup`, 'utf8'))
      .split('\n')
      .map((l) => l.split(':'))
      .filter((p) => p.length === 3);
    const v1Memory = cg.find((p) => p[1]!.split(',').includes('memory'));
    if (v1Memory) {
      const cpuPath = cg.find((p) => p[1]!.split(',').includes('cpu'))![2]!;
      const cpuDir = path.join('/sys/fs/cgroup/cpu,cpuacct', cpuPath);
      const quotaFile = existsSync(cpuDir)
        ? path.join(cpuDir, 'cpu.cfs_quota_us')
        : path.join('/sys/fs/cgroup/cpu', cpuPath, 'cpu.cfs_quota_us');
      expect((await fs.readFile(quotaFile, 'utf8')).trim()).toBe('20000');
      const limit = await fs.readFile(
        path.join('/sys/fs/cgroup/memory', v1Memory[2]!, 'memory.limit_in_bytes'),
        'utf8',
      );
      expect(Number(limit)).toBe(128 * MiB);
    } else {
      const unified = cg.find((p) => p[0] === '0')![2]!;
      const dir = path.join('/sys/fs/cgroup', unified);
      expect((await fs.readFile(path.join(dir, 'cpu.max'), 'utf8')).trim()).toBe('20000 100000');
      expect(Number(await fs.readFile(path.join(dir, 'memory.max'), 'utf8'))).toBe(128 * MiB);
    }
    const after = (await env.cri.runtime.containerStatus({ containerId })).status!;
    expect(after.resources?.linux).toMatchObject({ cpuQuota: 20_000n, cpuPeriod: 100_000n });
    // The throttled loop settles near 0.2 cores.
    await new Promise((r) => setTimeout(r, 1500));
    await env.cri.runtime.containerStats({ containerId });
    await new Promise((r) => setTimeout(r, 1000));
    const throttled = (await env.cri.runtime.containerStats({ containerId })).stats!;
    expect(Number(throttled.cpu!.usageNanoCores!.value)).toBeLessThan(0.35e9);

    await expect(
      env.cri.runtime.updateContainerResources({ containerId: 'f'.repeat(64), linux: {} }),
    ).rejects.toMatchObject({ code: grpcStatus.NOT_FOUND });
    await env.cri.runtime.removePodSandbox({ podSandboxId: pod.podSandboxId });
  });
});
