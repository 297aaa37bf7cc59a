// Pods without an infra container (drop_infra_ctr, on by default): a pod whose
// containers do not share a PID namespace gets pinned IPC and UTS namespaces
// instead of a pause process, and keeps every CRI behaviour: status and IP,
// hostname, sysctls, a port mapping, stats, and READY across restarts.

import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { podConfig, waitFor } from './helpers/cri.js';
import { criEnvAcrossRestarts } from './helpers/cri-env.js';
import { berth } from './helpers/daemon.js';

const isRoot = process.getuid?.() === 0;
const haveCni = existsSync('/usr/lib/cni/bridge');

describe.skipIf(!isRoot || !haveCni)('CRI pods without an infra container', () => {
  const env = criEnvAcrossRestarts();

  it('shares network, IPC and UTS without a pause, through restarts, and unpins on stop', async () => {
    const cri = () => env().cri.runtime;
    const hostPort = 20000 + (process.pid % 20000);
    const config = podConfig('lean', path.join(env().work, 'logs', 'lean'), {
      linux: {
        // What the kubelet sends for a pod without shareProcessNamespace.
        securityContext: { namespaceOptions: { pid: 1 /* CONTAINER */ } },
        sysctls: { 'net.ipv4.ip_unprivileged_port_start': '79', 'kernel.shm_rmid_forced': '1' },
      },
      portMappings: [{ protocol: 0, containerPort: 8080, hostPort }],
    });
    const { podSandboxId } = await cri().runPodSandbox({ config });
    const status = await cri().podSandboxStatus({ podSandboxId, verbose: true });
    expect(status.status!.state).toBe(0); // READY
    const ip = status.status!.network!.ip;
    expect(ip).toMatch(/^10\./);
    const info = JSON.parse(status.info.info!) as {
      pid: number;
      netns: string;
      pinnedNamespaces: { ipc: string; uts: string };
    };
    expect(info.pid).toBe(0);
    for (const f of [info.netns, info.pinnedNamespaces.ipc, info.pinnedNamespaces.uts]) {
      expect(existsSync(f)).toBe(true);
    }
    // No pause: the pod has no task of its own.
    const tasks = async () =>
      (await berth(env().d, ['tasks', 'ls', '-q'], { namespace: 'k8s.io' })).stdout;
    expect(await tasks()).not.toContain(podSandboxId);

    const start = async (name: string, script: string) => {
      const { containerId } = await cri().createContainer({
        podSandboxId,
        config: {
          metadata: { name },
          image: { image: 'busybox' },
          command: ['sh', '-c', script],
          linux: { securityContext: { namespaceOptions: { pid: 1 } } },
          logPath: `${name}.log`,
        },
        sandboxConfig: config,
      });
      await cri().startContainer({ containerId });
      return containerId;
    };
    const web = await start('web', 'busybox httpd -p 8080 -h /etc; exec sleep 600');
    const peer = await start('peer', 'exec sleep 600');
    const probe = async (containerId: string) => {
      const r = await cri().execSync({
        containerId,
        cmd: [
          'sh',
          '-c',
          'for n in net ipc uts pid; do readlink /proc/self/ns/$n; done; hostname; ' +
            'cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shm_rmid_forced; ' +
            'cat /proc/1/cmdline | tr "\\0" " "',
        ],
        timeout: 20,
      });
      expect(r.exitCode).toBe(0);
      const [net, ipc, uts, pid, hostname, portStart, rmid, init] = Buffer.from(r.stdout)
        .toString()
        .trim()
        .split('\n');
      return { net, ipc, uts, pid, hostname, portStart, rmid, init };
    };
    const a = await probe(web);
    const b = await probe(peer);
    expect(a).toMatchObject({ hostname: 'lean', portStart: '79', rmid: '1' });
    expect(b).toMatchObject({ net: a.net, ipc: a.ipc, uts: a.uts, hostname: 'lean' });
    // Each container is its own PID namespace's init.
    expect(b.pid).not.toBe(a.pid);
    // (httpd daemonized, so each shell's exec'd sleep is PID 1 of its own namespace).
    expect([a.init, b.init]).toEqual(['sleep 600', 'sleep 600']);
    // The pinned files are the namespaces the containers run in.
    const inode = async (f: string) => `[${(await fs.stat(f)).ino}]`;
    expect(a.net).toContain(await inode(info.netns));
    expect(a.ipc).toContain(await inode(info.pinnedNamespaces.ipc));
    expect(a.uts).toContain(await inode(info.pinnedNamespaces.uts));

    // Reachable at the pod IP and through the host port the portmap plugin mapped.
    const gateway = env().net.subnet.replace(/\.0\/24$/, '.1');
    await waitFor(
      () =>
        fetch(`http://${ip}:8080/hostname`)
          .then((r) => r.text())
          .catch(() => ''),
      (t) => t === 'lean\n',
    );
    expect(await fetch(`http://${gateway}:${hostPort}/hostname`).then((r) => r.text())).toBe(
      'lean\n',
    );

    // Stats: the pod's CPU and memory (its containers'), and eth0's counters from its namespace.
    const stats = await waitFor(
      () => cri().podSandboxStats({ podSandboxId }),
      (s) => (s.stats?.linux?.network?.defaultInterface?.rxBytes?.value ?? 0n) > 0n,
    );
    const linux = stats.stats!.linux!;
    expect(linux.network!.defaultInterface!.name).toBe('eth0');
    expect(linux.memory!.workingSetBytes!.value).toBeGreaterThan(0n);
    expect(linux.containers.map((c) => c.attributes!.id).sort()).toEqual([web, peer].sort());

    // A graceful restart, then a crash: the pod stays READY, its containers RUNNING.
    for (const how of ['SIGTERM', 'SIGKILL'] as const) {
      await env().d.stop(how);
      await env().d.restart();
      const after = await waitFor(
        () => cri().podSandboxStatus({ podSandboxId, verbose: true }),
        (s) => s.status !== undefined,
      );
      expect(after.status!.state).toBe(0);
      expect(after.status!.network!.ip).toBe(ip);
      for (const id of [web, peer]) {
        expect((await cri().containerStatus({ containerId: id })).status!.state).toBe(1);
      }
    }
    // A container started after the restarts joins the same namespaces.
    const late = await start('late', 'exec sleep 600');
    expect(await probe(late)).toMatchObject({ net: a.net, ipc: a.ipc, uts: a.uts });

    await cri().stopPodSandbox({ podSandboxId });
    expect((await cri().podSandboxStatus({ podSandboxId })).status!.state).toBe(1);
    for (const f of [info.netns, info.pinnedNamespaces.ipc, info.pinnedNamespaces.uts]) {
      expect(existsSync(f)).toBe(false);
    }
    await cri().removePodSandbox({ podSandboxId });
    expect(await tasks()).toBe('');
  });

  it('gives a pod whose containers share a PID namespace a pause, as before', async () => {
    const cri = env().cri.runtime;
    const config = podConfig('shared', '', {
      linux: { securityContext: { namespaceOptions: { pid: 0 /* POD */ } } },
    });
    const { podSandboxId } = await cri.runPodSandbox({ config });
    try {
      const info = JSON.parse(
        (await cri.podSandboxStatus({ podSandboxId, verbose: true })).info.info!,
      ) as { pid: number; pinnedNamespaces?: unknown };
      expect(info.pid).toBeGreaterThan(0);
      expect(info.pinnedNamespaces).toBeUndefined();
    } finally {
      await cri.removePodSandbox({ podSandboxId });
    }
  });
});
