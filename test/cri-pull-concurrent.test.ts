// Concurrent CRI PullImage calls for images that share their base layers,
// from Debian's docker-registry on 127.0.0.1: the same image twice and two
// images at once all succeed (a pull finding another one writing a shared
// blob waits for it instead of failing), both images run, and no ingest is
// left behind.

import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import { busyboxAppImage, pauseImage } from './fixtures/image-builder.js';
import { type CriEnv, importImage, podConfig, startCriEnv, waitFor } from './helpers/cri.js';
import {
  type TestRegistry,
  haveDockerRegistry,
  seedImage,
  startRegistry,
} from './helpers/registry.js';

const isRoot = process.getuid?.() === 0;
const haveCni = existsSync('/usr/lib/cni/bridge');

describe.skipIf(!isRoot || !haveCni || !haveDockerRegistry)('CRI concurrent pulls', () => {
  let registry: TestRegistry;
  let env: CriEnv;
  let hostsDir: string;
  const configs: Record<string, string> = {};

  beforeAll(async () => {
    registry = await startRegistry();
    const images = {
      web: await busyboxAppImage(`${registry.host}/shared/web:1`, { 'srv/role': 'web\n' }),
      worker: await busyboxAppImage(`${registry.host}/shared/worker:1`, { 'srv/role': 'worker\n' }),
    };
    // The premise: both images are built on the same two layers.
    expect(images.web.layers.slice(0, 2)).toEqual(images.worker.layers.slice(0, 2));
    for (const [name, img] of Object.entries(images)) {
      configs[name] = img.config.digest;
      await seedImage(img, `${registry.host}/shared/${name}`, { indexTag: '1' });
    }
    hostsDir = await fs.mkdtemp('/tmp/berth-cri-certs-');
    await fs.mkdir(path.join(hostsDir, registry.host));
    await fs.writeFile(
      path.join(hostsDir, registry.host, 'hosts.toml'),
      `server = "http://${registry.host}"\n`,
    );
    env = await startCriEnv({
      importImages: false,
      extraCriConfig: `registry_config_path = "${hostsDir}"`,
    });
    await importImage(env.d.address, await pauseImage());
  });

  afterAll(async () => {
    await env?.dispose();
    await registry?.dispose();
    if (hostsDir) await fs.rm(hostsDir, { recursive: true, force: true });
  });

  it('pulls the same image twice and both images at once, all succeeding', async () => {
    const web = `${registry.host}/shared/web:1`;
    const worker = `${registry.host}/shared/worker:1`;
    const refs = [web, worker, web, worker, web];
    const results = await Promise.allSettled(
      refs.map((image) => env.cri.image.pullImage({ image: { image } })),
    );
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.imageRef : r.reason))).toEqual([
      configs.web,
      configs.worker,
      configs.web,
      configs.worker,
      configs.web,
    ]);
    // Each status answers at once, without waiting for an event.
    for (const [name, ref] of [
      ['web', web],
      ['worker', worker],
    ] as const) {
      const st = await env.cri.image.imageStatus({ image: { image: ref } });
      expect(st.image).toMatchObject({ id: configs[name], repoTags: [ref] });
    }

    const c = new Client({ address: env.d.address, namespace: 'k8s.io' });
    try {
      expect(await c.content.statuses()).toEqual([]);
      const leases = await c.leases.list();
      expect(leases).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('runs a container of each image', async () => {
    const cfg = podConfig('shared-layers', path.join(env.work, 'logs', 'shared-layers'));
    const { podSandboxId } = await env.cri.runtime.runPodSandbox({ config: cfg });
    try {
      for (const name of ['web', 'worker']) {
        const { containerId } = await env.cri.runtime.createContainer({
          podSandboxId,
          config: {
            metadata: { name },
            image: { image: `${registry.host}/shared/${name}:1` },
            command: ['sh', '-c', 'cat /srv/role /etc/berth-release'],
            logPath: `${name}.log`,
          },
          sandboxConfig: cfg,
        });
        await env.cri.runtime.startContainer({ containerId });
        const done = await waitFor(
          async () => (await env.cri.runtime.containerStatus({ containerId })).status!,
          (s) => s.state === 2,
        );
        expect(done).toMatchObject({ exitCode: 0, imageRef: configs[name] });
        const log = await fs.readFile(
          path.join(env.work, 'logs', 'shared-layers', `${name}.log`),
          'utf8',
        );
        expect(log).toContain(`${name}\n`);
        expect(log).toContain('NAME=berth-test-busybox');
      }
    } finally {
      await env.cri.runtime.removePodSandbox({ podSandboxId });
    }
  });
});
