// What a real kubelet sends on a host that withholds things: hugepage limits
// without the hugetlb controller, `add_capabilities: ["ALL"]` where berthd does
// not hold every capability, images named by the digest the CRI itself
// reported or by a short id, and failures the daemon must log.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capabilitiesFromMask, currentBoundingCapabilities } from '../core/oci/index.js';
import { busyboxImage } from './fixtures/image-builder.js';
import { type CriEnv, importImage, podConfig, startCriEnv, waitFor } from './helpers/cri.js';

const isRoot = process.getuid?.() === 0;
const haveCni = existsSync('/usr/lib/cni/bridge');

describe.skipIf(!isRoot || !haveCni)('CRI requests of a real kubelet', () => {
  let env: CriEnv;

  beforeAll(async () => {
    // Hugepage limits are kept where the controller exists: the host decides, not the default.
    env = await startCriEnv({ extraCriConfig: 'disable_hugetlb_controller = false' });
  });

  afterAll(async () => {
    await env?.dispose();
  });

  async function runPod(name: string) {
    const config = podConfig(name, path.join(env.work, 'logs', name));
    const { podSandboxId } = await env.cri.runtime.runPodSandbox({ config });
    return { podSandboxId, config };
  }

  const hugepageLimits = [{ pageSize: '2MB', limit: 0 }];

  it('starts and updates a container with hugepage limits and add ALL minus a drop', async () => {
    const pod = await runPod('kubelet-like');
    const { containerId } = await env.cri.runtime.createContainer({
      podSandboxId: pod.podSandboxId,
      config: {
        metadata: { name: 'app' },
        image: { image: 'busybox' },
        command: ['sleep', '300'],
        linux: {
          resources: { cpuShares: 2, hugepageLimits },
          securityContext: {
            capabilities: { addCapabilities: ['ALL'], dropCapabilities: ['NET_RAW'] },
          },
        },
      },
      sandboxConfig: pod.config,
    });
    // Before the start, so the stored spec the start uses is the updated one.
    await env.cri.runtime.updateContainerResources({
      containerId,
      linux: { cpuShares: 3, hugepageLimits },
    });
    await env.cri.runtime.startContainer({ containerId });
    const st = await env.cri.runtime.containerStatus({ containerId });
    expect(st.status!.state).toBe(1); // CONTAINER_RUNNING

    const exec = await env.cri.runtime.execSync({
      containerId,
      cmd: ['grep', 'CapEff', '/proc/self/status'],
      timeout: 10,
    });
    const mask = /CapEff:\s*([0-9a-f]+)/.exec(Buffer.from(exec.stdout).toString())![1]!;
    const held = currentBoundingCapabilities(); // berthd runs with the test's capabilities
    expect(capabilitiesFromMask(mask).sort()).toEqual(
      held.filter((c) => c !== 'CAP_NET_RAW').sort(),
    );

    await env.cri.runtime.updateContainerResources({
      containerId,
      linux: { cpuShares: 4, hugepageLimits },
    });
    const after = await env.cri.runtime.containerStatus({ containerId });
    expect(after.status!.resources?.linux?.cpuShares).toBe(4n);
    await env.cri.runtime.removePodSandbox({ podSandboxId: pod.podSandboxId });
  });

  it('resolves the reported repo digest and short ids in ImageStatus, CreateContainer and RemoveImage', async () => {
    const st = await env.cri.image.imageStatus({ image: { image: 'busybox' } });
    const image = st.image!;
    const repoDigest = image.repoDigests[0]!;
    expect(repoDigest).toMatch(/^docker\.io\/library\/busybox@sha256:[0-9a-f]{64}$/);
    const hex = image.id.slice('sha256:'.length);
    for (const ref of [
      repoDigest,
      `busybox@${repoDigest.split('@')[1]}`,
      'docker.io/library/busybox:latest',
      image.id,
      hex,
      hex.slice(0, 12),
      `sha256:${hex.slice(0, 12)}`,
    ]) {
      const byRef = await env.cri.image.imageStatus({ image: { image: ref } });
      expect(byRef.image?.id, ref).toBe(image.id);
    }

    const pod = await runPod('by-digest');
    const { containerId } = await env.cri.runtime.createContainer({
      podSandboxId: pod.podSandboxId,
      config: { metadata: { name: 'pinned' }, image: { image: repoDigest }, command: ['true'] },
      sandboxConfig: pod.config,
    });
    const created = await env.cri.runtime.containerStatus({ containerId });
    expect(created.status!.imageRef).toBe(image.id);
    await env.cri.runtime.removePodSandbox({ podSandboxId: pod.podSandboxId });

    await env.cri.image.removeImage({ image: { image: repoDigest } });
    expect(
      (await env.cri.image.imageStatus({ image: { image: 'busybox' } })).image,
    ).toBeUndefined();
    await importImage(env.d.address, await busyboxImage());
    await env.cri.image.removeImage({ image: { image: hex.slice(0, 12) } });
    expect(
      (await env.cri.image.imageStatus({ image: { image: 'busybox' } })).image,
    ).toBeUndefined();
    await importImage(env.d.address, await busyboxImage());
  });

  it('logs a failing call with the RPC, the pod and the container and the cause', async () => {
    const pod = await runPod('failing');
    const { containerId } = await env.cri.runtime.createContainer({
      podSandboxId: pod.podSandboxId,
      config: {
        // runc refuses a working directory that is a file; no code fits it
        // better than Unknown (a missing binary is NotFound, logged at debug).
        metadata: { name: 'file-as-cwd' },
        image: { image: 'busybox' },
        command: ['true'],
        workingDir: '/bin/sh',
      },
      sandboxConfig: pod.config,
    });
    const failure = await env.cri.runtime.startContainer({ containerId }).then(
      () => undefined,
      (err: { code: number; details: string }) => err,
    );
    expect(failure?.code).toBeOneOf([grpcStatus.INTERNAL, grpcStatus.UNKNOWN]);
    const line = await waitFor(
      async () =>
        env.d
          .logs()
          .split('\n')
          .find((l) => l.includes('"rpc":"StartContainer"') && l.includes(containerId)),
      (l) => l !== undefined,
      60_000,
    );
    const entry = JSON.parse(line!) as Record<string, unknown>;
    expect(entry).toMatchObject({
      rpc: 'StartContainer',
      containerId,
      podSandboxId: pod.podSandboxId,
    });
    expect(entry.level).toBeGreaterThanOrEqual(40); // warn or error
    expect(JSON.stringify(entry)).toContain('/bin/sh');
    await env.cri.runtime.removePodSandbox({ podSandboxId: pod.podSandboxId });
  });
});
