import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../../core/errors/catalogue.js';
import { LinuxContainerResources, PodSandboxConfig } from '../../api/gen/cri/runtime/v1/api.js';
import { KeyedMutex } from '../../core/metadata/keyed-mutex.js';
import { updatePodSandboxResources } from './pod-resources.js';
import { CriStore, type SandboxRecord } from './store.js';

describe('UpdatePodSandboxResources', () => {
  let dir: string;
  let store: CriStore;
  const lock = new KeyedMutex();

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-podres-'));
    store = new CriStore(dir);
    await store.load();
    const rec: SandboxRecord = {
      id: 'pod1',
      name: 'pod1_default_u_0',
      config: PodSandboxConfig.toJSON(
        PodSandboxConfig.fromJSON({
          metadata: { name: 'pod1', namespace: 'default', uid: 'u' },
          linux: { cgroupParent: '/kubepods/pod-u', sysctls: { 'net.ipv4.ip_forward': '1' } },
        }),
      ),
      runtimeHandler: '',
      createdAt: 0,
      state: 'ready',
      ips: [],
      dir,
      image: 'pause',
      snapshotKey: 'pod1',
      pid: 0,
      networkDown: true,
    };
    await store.sandboxes.put(rec);
  });

  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const rt = () => ({ d: { store }, lock });
  const code = (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (e) => (isBerthError(e) ? e.code : String(e)),
    );

  it('records the new overhead and resources on the sandbox, on disk too, keeping the rest', async () => {
    await updatePodSandboxResources(rt(), {
      podSandboxId: 'pod1',
      overhead: LinuxContainerResources.fromJSON({ cpuShares: 10, memoryLimitInBytes: 1024 }),
      resources: LinuxContainerResources.fromJSON({
        cpuQuota: 50_000,
        cpuPeriod: 100_000,
        memoryLimitInBytes: 2 ** 30,
      }),
    });
    const reloaded = new CriStore(dir);
    await reloaded.load();
    const linux = PodSandboxConfig.fromJSON(reloaded.sandboxes.get('pod1').config).linux!;
    expect(linux.cgroupParent).toBe('/kubepods/pod-u');
    expect(linux.sysctls).toEqual({ 'net.ipv4.ip_forward': '1' });
    expect(linux.overhead).toMatchObject({ cpuShares: 10n, memoryLimitInBytes: 1024n });
    expect(linux.resources).toMatchObject({
      cpuQuota: 50_000n,
      cpuPeriod: 100_000n,
      memoryLimitInBytes: 1n << 30n,
    });

    // A later update replaces both, as the kubelet sends the whole pod's values each time.
    await updatePodSandboxResources(rt(), {
      podSandboxId: 'pod1',
      overhead: undefined,
      resources: LinuxContainerResources.fromJSON({ cpuShares: 2 }),
    });
    const again = PodSandboxConfig.fromJSON(store.sandboxes.get('pod1').config).linux!;
    expect(again.overhead).toBeUndefined();
    expect(again.resources).toMatchObject({ cpuShares: 2n, cpuQuota: 0n });
  });

  it('refuses a missing id, an unknown pod and a pod removed while it waited', async () => {
    const req = { overhead: undefined, resources: undefined };
    expect(await code(updatePodSandboxResources(rt(), { podSandboxId: '', ...req }))).toBe(
      'InvalidArgument',
    );
    expect(await code(updatePodSandboxResources(rt(), { podSandboxId: 'nope', ...req }))).toBe(
      'NotFound',
    );
    const release = await lock.acquire(['pod1']);
    const pending = code(updatePodSandboxResources(rt(), { podSandboxId: 'pod1', ...req }));
    await store.sandboxes.delete('pod1');
    release();
    expect(await pending).toBe('NotFound');
    await expect(fs.readdir(path.join(dir, 'sandboxes'))).resolves.toEqual([]);
  });
});
