// CRI ImageService.PullImage against Debian's docker-registry on 127.0.0.1
// acting as a mirror (hosts.toml in registry_config_path) for registry.k8s.io
// and docker.io names, plus a private registry with basic auth. No traffic
// leaves the host: the upstream registries are never contacted.

import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import { type CollectResponse, GCClient } from '../api/gen/berth/gc/v1/gc.js';
import { busyboxImage, pauseImage } from './fixtures/image-builder.js';
import { type CriEnv, podConfig, startCriEnv, waitFor } from './helpers/cri.js';
import {
  TEST_PASSWORD,
  TEST_USER,
  type TestRegistry,
  haveDockerRegistry,
  seedImage,
  startRegistry,
} from './helpers/registry.js';

const isRoot = process.getuid?.() === 0;
const haveCni = existsSync('/usr/lib/cni/bridge');

describe.skipIf(!isRoot || !haveCni || !haveDockerRegistry)('CRI PullImage', () => {
  let mirror: TestRegistry;
  let priv: TestRegistry;
  let env: CriEnv;
  let hostsDir: string;
  let busyboxConfig: string;

  beforeAll(async () => {
    mirror = await startRegistry();
    priv = await startRegistry({ htpasswd: true });
    const pause = await pauseImage();
    const busybox = await busyboxImage();
    busyboxConfig = busybox.config.digest;
    // Mirror paths are the upstream repository paths: registry.k8s.io/pause, docker.io/library/busybox.
    await seedImage(pause, `${mirror.host}/pause`, { tag: '3.9-manifest', indexTag: '3.9' });
    await seedImage(busybox, `${mirror.host}/library/busybox`, { indexTag: 'latest' });
    await seedImage(
      busybox,
      `${priv.host}/private/busybox`,
      { tag: 'v1' },
      { credentials: () => ({ username: TEST_USER, secret: TEST_PASSWORD }) },
    );

    hostsDir = await fs.mkdtemp('/tmp/berth-cri-certs-');
    // Any registry without its own directory is pulled from the mirror only.
    await fs.mkdir(path.join(hostsDir, '_default'));
    await fs.writeFile(
      path.join(hostsDir, '_default', 'hosts.toml'),
      `capabilities = []\n\n[host."http://${mirror.host}"]\n  capabilities = ["pull", "resolve"]\n`,
    );
    await fs.mkdir(path.join(hostsDir, priv.host));
    await fs.writeFile(
      path.join(hostsDir, priv.host, 'hosts.toml'),
      `server = "http://${priv.host}"\n`,
    );
    env = await startCriEnv({
      importImages: false,
      extraCriConfig: `registry_config_path = "${hostsDir}"`,
    });
  });

  afterAll(async () => {
    await env?.dispose();
    await mirror?.dispose();
    await priv?.dispose();
    if (hostsDir) await fs.rm(hostsDir, { recursive: true, force: true });
  });

  const collectGarbage = async () => {
    const c = new Client({ address: env.d.address, namespace: 'k8s.io' });
    try {
      return await c.call<CollectResponse>(GCClient, 'collect', {});
    } finally {
      c.close();
    }
  };

  it('pulls the missing sandbox image from the mirror on RunPodSandbox', async () => {
    expect((await env.cri.image.listImages({})).images).toEqual([]);
    const cfg = podConfig('pulled-pause', '');
    const { podSandboxId } = await env.cri.runtime.runPodSandbox({ config: cfg });
    const st = await env.cri.runtime.podSandboxStatus({ podSandboxId });
    expect(st.status!.state).toBe(0);
    const img = await env.cri.image.imageStatus({ image: { image: 'registry.k8s.io/pause:3.9' } });
    expect(img.image?.repoTags).toEqual(['registry.k8s.io/pause:3.9']);
    await env.cri.runtime.removePodSandbox({ podSandboxId });
  });

  it('pulls a docker.io name through the mirror, keeps its layers through a collection, and runs it', async () => {
    const r = await env.cri.image.pullImage({ image: { image: 'busybox' } });
    expect(r.imageRef).toBe(busyboxConfig);
    const st = await env.cri.image.imageStatus({ image: { image: 'busybox' }, verbose: true });
    expect(st.image).toMatchObject({
      id: busyboxConfig,
      repoTags: ['docker.io/library/busybox:latest'],
    });
    expect(st.image!.repoDigests[0]).toMatch(/^docker\.io\/library\/busybox@sha256:/);
    // Pulling again is a no-op with the same answer.
    expect((await env.cri.image.pullImage({ image: { image: 'busybox:latest' } })).imageRef).toBe(
      busyboxConfig,
    );

    // The image record holds its content and the unpacked snapshots: nothing of it is garbage.
    const removed = await collectGarbage();
    expect(removed.content).toEqual([]);
    expect(removed.snapshots.filter((x) => x.namespace === 'k8s.io')).toEqual([]);

    const cfg = podConfig('pulled', path.join(env.work, 'logs', 'pulled'));
    const { podSandboxId } = await env.cri.runtime.runPodSandbox({ config: cfg });
    const { containerId } = await env.cri.runtime.createContainer({
      podSandboxId,
      config: {
        metadata: { name: 'c' },
        image: { image: 'docker.io/library/busybox:latest' },
        command: ['sh', '-c', 'cat /etc/hostname; exit 0'],
        logPath: 'c.log',
      },
      sandboxConfig: cfg,
    });
    await env.cri.runtime.startContainer({ containerId });
    const done = await waitFor(
      async () => (await env.cri.runtime.containerStatus({ containerId })).status!,
      (s) => s.state === 2,
    );
    expect(done).toMatchObject({ exitCode: 0, imageRef: busyboxConfig });
    await env.cri.runtime.removePodSandbox({ podSandboxId });
  });

  it('uses the auth config for a registry that requires it', async () => {
    const ref = `${priv.host}/private/busybox:v1`;
    await expect(env.cri.image.pullImage({ image: { image: ref } })).rejects.toMatchObject({
      code: grpcStatus.PERMISSION_DENIED,
    });
    await expect(
      env.cri.image.pullImage({
        image: { image: ref },
        auth: { username: TEST_USER, password: 'wrong' },
      }),
    ).rejects.toMatchObject({ code: grpcStatus.PERMISSION_DENIED });
    const r = await env.cri.image.pullImage({
      image: { image: ref },
      auth: {
        auth: Buffer.from(`${TEST_USER}:${TEST_PASSWORD}`).toString('base64'),
        serverAddress: priv.host,
      },
    });
    expect(r.imageRef).toBe(busyboxConfig);
    const list = await env.cri.image.listImages({});
    expect(list.images.flatMap((i) => i.repoTags)).toContain(ref);
    await env.cri.image.removeImage({ image: { image: ref } });
    await env.cri.image.removeImage({ image: { image: ref } }); // idempotent
  });

  it('fails clearly for an image the mirror does not have and records nothing', async () => {
    const err = await env.cri.image
      .pullImage({ image: { image: 'registry.k8s.io/nosuch:1.0' } })
      .catch((e) => e);
    expect(err.code).toBe(grpcStatus.NOT_FOUND);
    expect(err.details).toContain('nosuch');
    expect(
      (await env.cri.image.imageStatus({ image: { image: 'registry.k8s.io/nosuch:1.0' } })).image,
    ).toBeUndefined();
    await expect(env.cri.image.pullImage({ image: { image: '' } })).rejects.toMatchObject({
      code: grpcStatus.INVALID_ARGUMENT,
    });
  });
});
