// CRI runtime.v1 end to end against a real berthd, berth-shim, runc and
// Debian's CNI plugins: the kubelet's seed flow and its failure cases.

import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MNT, umount2 } from '../native/index.js';
import { busyboxImage, pauseImage } from './fixtures/image-builder.js';
import {
  type CriClient,
  type TestNetwork,
  criClient,
  grpcCode,
  importImage,
  testNetwork,
} from './helpers/cri.js';
import { type TestDaemon, startDaemon } from './helpers/daemon.js';

const isRoot = process.getuid?.() === 0;
const haveCni = existsSync('/usr/lib/cni/bridge');

function podConfig(name: string, logDir: string, extra: Record<string, unknown> = {}) {
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    logDirectory: logDir,
    labels: { app: name },
    linux: {},
    ...extra,
  };
}

describe.skipIf(!isRoot || !haveCni)('CRI runtime.v1', () => {
  let d: TestDaemon;
  let cri: CriClient;
  let net: TestNetwork;
  let work: string;

  beforeAll(async () => {
    work = await fs.mkdtemp('/tmp/berth-cri-');
    net = await testNetwork(work);
    d = await startDaemon({
      config: `version = 1\n[plugins."io.berth.grpc.v1.cri"]\nsandbox_image = "registry.k8s.io/pause:3.9"\n[plugins."io.berth.grpc.v1.cri".cni]\nconf_dir = "${net.confDir}"\nbin_dirs = ["/usr/lib/cni"]\n`,
    });
    cri = criClient(d.address);
    await importImage(d.address, await pauseImage());
    await importImage(d.address, await busyboxImage());
  });

  afterAll(async () => {
    if (cri) {
      // Everything the tests left behind goes through the CRI itself, so netns, CNI and mounts are undone.
      const pods = await cri.runtime.listPodSandbox({}).catch(() => ({ items: [] }));
      for (const p of pods.items)
        await cri.runtime.removePodSandbox({ podSandboxId: p.id }).catch(() => {});
      cri.close();
    }
    const dir = d?.dir;
    await d?.dispose();
    // Last resort when the CRI could not clean up: no mount of this daemon may outlive the test.
    if (dir) {
      const info = await fs.readFile('/proc/self/mountinfo', 'utf8');
      const left = info
        .split('\n')
        .map((l) => l.split(' ')[4] ?? '')
        .filter((m) => m.startsWith(dir));
      for (const m of left.sort().reverse()) {
        try {
          umount2(m, MNT.DETACH);
        } catch {
          /* already gone */
        }
      }
    }
    await net?.dispose();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('reports version, status and runtime config', async () => {
    const v = await cri.runtime.version({});
    expect(v.runtimeName).toBe('berth');
    expect(v.runtimeApiVersion).toBe('v1');
    const s = await cri.runtime.status({});
    const byType = Object.fromEntries(s.status!.conditions.map((c) => [c.type, c]));
    expect(byType.RuntimeReady!.status).toBe(true);
    expect(byType.NetworkReady!.status).toBe(true);
    const rc = await cri.runtime.runtimeConfig({});
    expect(rc.linux?.cgroupDriver).toBe(1); // CGROUPFS
  });

  it('answers NOT_FOUND for checkpointing an unknown container', async () => {
    await expect(
      cri.runtime.checkpointContainer({ containerId: 'x', location: '/tmp/x.tar' }),
    ).rejects.toMatchObject({ code: grpcStatus.NOT_FOUND });
  });

  it('lists images in k8s.io and answers status for missing ones with no image', async () => {
    const list = await cri.image.listImages({});
    const tags = list.images.flatMap((i) => i.repoTags);
    expect(tags).toContain('docker.io/library/busybox:latest');
    expect(tags).toContain('registry.k8s.io/pause:3.9');
    const st = await cri.image.imageStatus({ image: { image: 'busybox' } });
    expect(st.image?.repoTags).toEqual(['docker.io/library/busybox:latest']);
    expect((await cri.image.imageStatus({ image: { image: 'nope:1' } })).image).toBeUndefined();
    const fsInfo = await cri.image.imageFsInfo({});
    expect(fsInfo.imageFilesystems[0]!.usedBytes!.value).toBeGreaterThan(0);
  });

  it('runs the seed flow: runp, create, start, ps, logs, exec, stop, rm, stopp, rmp', async () => {
    const logDir = path.join(work, 'logs', 'seed');
    const cfg = podConfig('seed', logDir);
    const { podSandboxId } = await cri.runtime.runPodSandbox({ config: cfg });
    expect(podSandboxId).toMatch(/^[0-9a-f]{64}$/);

    const ps = await cri.runtime.podSandboxStatus({ podSandboxId, verbose: true });
    expect(ps.status!.state).toBe(0); // SANDBOX_READY
    const ip = ps.status!.network!.ip;
    expect(ip).toMatch(/^10\.\d+\.\d+\.\d+$/);
    const info = JSON.parse(ps.info.info!);
    expect(existsSync(info.netns)).toBe(true);

    const events = cri.events();
    const seen: number[] = [];
    const podOf: (string | undefined)[] = [];
    events.on('data', (e) => {
      seen.push(e.containerEventType);
      podOf.push(e.podSandboxStatus?.id);
    });
    events.on('error', () => {});

    const { containerId } = await cri.runtime.createContainer({
      podSandboxId,
      config: {
        metadata: { name: 'app', attempt: 0 },
        image: { image: 'busybox' },
        command: ['/bin/sh', '-c'],
        args: [
          'echo hello; echo oops >&2; echo "host=$(hostname)"; busybox httpd -p 8080 -h /etc; exec sleep 300',
        ],
        envs: [{ key: 'GREETING', value: 'hi' }],
        logPath: 'app/0.log',
        labels: { tier: 'web' },
      },
      sandboxConfig: cfg,
    });
    let list = await cri.runtime.listContainers({ filter: { podSandboxId } });
    expect(list.containers.map((c) => [c.id, c.state])).toEqual([[containerId, 0]]);

    await cri.runtime.startContainer({ containerId });
    list = await cri.runtime.listContainers({
      filter: { state: { state: 1 }, labelSelector: { tier: 'web' } },
    });
    expect(list.containers.map((c) => c.id)).toEqual([containerId]);

    const logFile = path.join(logDir, 'app', '0.log');
    let text = '';
    for (let i = 0; i < 50 && !text.includes('host='); i++) {
      await new Promise((r) => setTimeout(r, 100));
      text = await fs.readFile(logFile, 'utf8').catch(() => '');
    }
    const lines = text.trim().split('\n');
    for (const l of lines) {
      expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z (stdout|stderr) F /);
    }
    expect(lines.some((l) => / stdout F hello$/.test(l))).toBe(true);
    expect(lines.some((l) => / stderr F oops$/.test(l))).toBe(true);
    expect(lines.some((l) => / stdout F host=seed$/.test(l))).toBe(true);

    // The pod IP answers from the host: busybox httpd serves the pod's /etc.
    const body = await fetch(`http://${ip}:8080/hostname`).then((r) => r.text());
    expect(body).toBe('seed\n');

    const ex = await cri.runtime.execSync({
      containerId,
      cmd: ['/bin/sh', '-c', 'echo $GREETING; id -u; exit 3'],
      timeout: 10,
    });
    expect(Buffer.from(ex.stdout).toString()).toBe('hi\n0\n');
    expect(ex.exitCode).toBe(3);

    const t0 = Date.now();
    await expect(
      cri.runtime.execSync({ containerId, cmd: ['sleep', '30'], timeout: 1 }),
    ).rejects.toMatchObject({ code: grpcStatus.DEADLINE_EXCEEDED });
    expect(Date.now() - t0).toBeLessThan(10_000);

    await cri.runtime.stopContainer({ containerId, timeout: 2 });
    const st = await cri.runtime.containerStatus({ containerId });
    expect(st.status!.state).toBe(2); // EXITED
    expect(st.status!.finishedAt).toBeGreaterThan(0);
    expect(st.status!.logPath).toBe(logFile);
    await cri.runtime.stopContainer({ containerId, timeout: 2 }); // idempotent

    await cri.runtime.removeContainer({ containerId });
    await cri.runtime.removeContainer({ containerId }); // idempotent
    await expect(cri.runtime.containerStatus({ containerId })).rejects.toMatchObject({
      code: grpcStatus.NOT_FOUND,
    });

    await cri.runtime.stopPodSandbox({ podSandboxId });
    await cri.runtime.stopPodSandbox({ podSandboxId });
    expect(existsSync(info.netns)).toBe(false);
    expect((await cri.runtime.podSandboxStatus({ podSandboxId })).status!.state).toBe(1);
    await cri.runtime.removePodSandbox({ podSandboxId });
    await cri.runtime.removePodSandbox({ podSandboxId });
    expect(
      (await cri.runtime.listPodSandbox({})).items.find((p) => p.id === podSandboxId),
    ).toBeUndefined();
    events.cancel();
    expect(seen).toEqual(expect.arrayContaining([0, 1, 2, 3]));
    // Every event names its pod, the deletion included (the kubelet drops those that do not).
    expect(podOf.every((id) => id === podSandboxId)).toBe(true);
  });

  it('reports a non-zero exit as Error with its code', async () => {
    const cfg = podConfig('exit', path.join(work, 'logs', 'exit'));
    const { podSandboxId } = await cri.runtime.runPodSandbox({ config: cfg });
    const { containerId } = await cri.runtime.createContainer({
      podSandboxId,
      config: {
        metadata: { name: 'fail' },
        image: { image: 'busybox' },
        command: ['sh', '-c', 'exit 7'],
        logPath: 'fail.log',
      },
      sandboxConfig: cfg,
    });
    await cri.runtime.startContainer({ containerId });
    let st = await cri.runtime.containerStatus({ containerId });
    for (let i = 0; i < 50 && st.status!.state !== 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      st = await cri.runtime.containerStatus({ containerId });
    }
    expect(st.status).toMatchObject({ state: 2, exitCode: 7, reason: 'Error' });
    await cri.runtime.removePodSandbox({ podSandboxId });
  });

  it('rejects bad input with the field named and leaves nothing behind', async () => {
    await expect(
      cri.runtime.runPodSandbox({ config: { metadata: { name: 'x', namespace: 'n' } } }),
    ).rejects.toMatchObject({
      code: grpcStatus.INVALID_ARGUMENT,
      details: expect.stringContaining('config.metadata.uid'),
    });
    await expect(
      cri.runtime.runPodSandbox({ config: podConfig('h', ''), runtimeHandler: 'nosuch' }),
    ).rejects.toMatchObject({
      code: grpcStatus.INVALID_ARGUMENT,
      details: expect.stringContaining('nosuch'),
    });
    await expect(
      cri.runtime.podSandboxStatus({ podSandboxId: 'f'.repeat(64) }),
    ).rejects.toMatchObject({
      code: grpcStatus.NOT_FOUND,
    });

    const cfg = podConfig('bad', path.join(work, 'logs', 'bad'));
    const { podSandboxId } = await cri.runtime.runPodSandbox({ config: cfg });
    // Duplicate pod names are refused while the first one exists.
    await expect(cri.runtime.runPodSandbox({ config: cfg })).rejects.toMatchObject({
      code: grpcStatus.ALREADY_EXISTS,
    });
    const base = { metadata: { name: 'c' }, image: { image: 'busybox' }, command: ['true'] };
    await expect(
      cri.runtime.createContainer({
        podSandboxId,
        config: { ...base, logPath: '../../escape.log' },
        sandboxConfig: cfg,
      }),
    ).rejects.toMatchObject({ code: grpcStatus.INVALID_ARGUMENT });
    await expect(
      cri.runtime.createContainer({
        podSandboxId,
        config: { ...base, mounts: [{ containerPath: '/data', hostPath: '/nonexistent/berth' }] },
        sandboxConfig: cfg,
      }),
    ).rejects.toMatchObject({
      code: grpcStatus.INVALID_ARGUMENT,
      details: expect.stringContaining('/nonexistent/berth'),
    });
    await expect(
      cri.runtime.createContainer({
        podSandboxId,
        config: { ...base, image: { image: 'no/such:image' } },
        sandboxConfig: cfg,
      }),
    ).rejects.toMatchObject({ code: grpcStatus.NOT_FOUND });
    // The failed creates released the name: the same name works now.
    const ok = await cri.runtime.createContainer({
      podSandboxId,
      config: base,
      sandboxConfig: cfg,
    });
    expect(
      (await cri.runtime.listContainers({ filter: { podSandboxId } })).containers.map((c) => c.id),
    ).toEqual([ok.containerId]);
    await cri.runtime.removePodSandbox({ podSandboxId });
  });

  it('a pod whose CNI ADD fails leaves no netns, record or name behind', async () => {
    const badConf = path.join(net.confDir, '00-broken.conflist');
    await fs.writeFile(
      badConf,
      JSON.stringify({
        cniVersion: '0.4.0',
        name: 'broken',
        plugins: [
          {
            type: 'bridge',
            bridge: 'x'.repeat(40),
            ipam: { type: 'host-local', subnet: '10.254.0.0/24' },
          },
        ],
      }),
    );
    const netnsDir = path.join(d.state, 'io.berth.grpc.v1.cri', 'netns');
    const before = await fs.readdir(netnsDir).catch(() => []);
    try {
      const cfg = podConfig('cnifail', '');
      const err = await cri.runtime.runPodSandbox({ config: cfg }).catch((e) => e);
      expect(grpcCode(err)).not.toBe(undefined);
      expect(
        (await cri.runtime.listPodSandbox({})).items.some((p) => p.metadata?.name === 'cnifail'),
      ).toBe(false);
      expect(await fs.readdir(netnsDir).catch(() => [])).toEqual(before);
      await fs.rm(badConf);
      const { podSandboxId } = await cri.runtime.runPodSandbox({ config: cfg });
      await cri.runtime.removePodSandbox({ podSandboxId });
    } finally {
      await fs.rm(badConf, { force: true });
    }
  });
});
