// Pod sandboxes over fakes (runtime-over-fakes.ts): what RunPodSandbox sets
// up and undoes when it fails, what Stop and Remove take down, and a pause
// that exits.

import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errFailedPrecondition } from '../../core/errors/catalogue.js';
import { Status } from '../../api/gen/containerd/types/task/task.js';
import { CRI_NAMESPACE } from './image-store.js';
import {
  type RuntimeOverFakes,
  containerConfig,
  criRuntimeOverFakes,
  podConfig,
} from './runtime-over-fakes.js';

describe('CRI pod sandboxes', () => {
  let dir: string;
  let f: RuntimeOverFakes;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-cri-pods-'));
    f = await criRuntimeOverFakes(dir);
  });
  afterEach(async () => {
    await f.tasks.manager.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const shim = (id: string) => f.tasks.launcher.shim(CRI_NAMESPACE, id)!;

  it('runs a pod: its files, network, snapshot, records and a started pause', async () => {
    const id = await f.rt.runPodSandbox(podConfig('web', true), '');
    const sb = f.rt.d.store.sandboxes.get(id);
    expect(sb).toMatchObject({ state: 'ready', ips: ['10.88.0.5'], networkDown: false });
    expect(sb.pid).toBe(shim(id).init!.pid);
    expect(shim(id).init!.status).toBe(Status.RUNNING);
    expect(await fs.readFile(path.join(sb.dir, 'hostname'), 'utf8')).toBe('web\n');
    expect(f.calls.cniSetup).toMatchObject([{ containerId: id, netnsPath: sb.netnsPath }]);
    expect(f.snapshots.has(id)).toBe(true);
    const spec = JSON.parse(Buffer.from(f.records.get(id)!.spec!.value).toString('utf8'));
    expect(spec.process.args).toEqual(['/pause']);
    expect(spec.linux.namespaces).toContainEqual({ type: 'network', path: sb.netnsPath });
  });

  it('undoes everything it did when the pause does not start', async () => {
    f.tasks.launcher.onStart = (s) => s.failures.set('start', errFailedPrecondition('no pause'));
    await expect(f.rt.runPodSandbox(podConfig('web', true), '')).rejects.toMatchObject({
      code: 'FailedPrecondition',
    });
    expect(f.rt.d.store.sandboxes.list()).toEqual([]);
    expect(f.tasks.manager.list(CRI_NAMESPACE)).toEqual([]);
    expect(f.records.size).toBe(0);
    expect(f.snapshots.size).toBe(0);
    expect(f.calls.cniTeardown).toHaveLength(1);
    expect(await fs.readdir(path.join(dir, 'cri-state', 'netns'))).toEqual([]);
    expect(await fs.readdir(path.join(dir, 'cri-state', 'sandboxes'))).toEqual([]);

    f.tasks.launcher.onStart = undefined;
    await f.rt.runPodSandbox(podConfig('web', true), ''); // the name is free again
  });

  it('stops its containers, the pause and the network; removes it once, idempotently', async () => {
    const id = await f.rt.runPodSandbox(podConfig('web', true), '');
    const netns = f.rt.d.store.sandboxes.get(id).netnsPath!;
    const cid = await f.rt.createContainer(id, containerConfig('app'), undefined);
    await f.rt.startContainer(cid);

    await f.rt.stopPodSandbox(id);
    expect(f.rt.d.store.containers.get(cid)).toMatchObject({ state: 'exited', exitCode: 137 });
    expect(f.rt.d.store.sandboxes.get(id)).toMatchObject({ state: 'notready', networkDown: true });
    expect(f.calls.cniTeardown).toMatchObject([{ containerId: id }]);
    await expect(fs.access(netns)).rejects.toThrow();
    await f.rt.stopPodSandbox(id); // again: nothing more to do
    expect(f.calls.cniTeardown).toHaveLength(1);

    await f.rt.removePodSandbox(id);
    expect(f.rt.d.store.sandboxes.list()).toEqual([]);
    expect(f.rt.d.store.containers.list()).toEqual([]);
    expect(f.tasks.manager.list(CRI_NAMESPACE)).toEqual([]);
    expect(f.records.size).toBe(0);
    expect(f.snapshots.size).toBe(0);
    await f.rt.removePodSandbox(id);
  });

  it('marks the pod NOTREADY when its pause exits', async () => {
    const id = await f.rt.runPodSandbox(podConfig('web'), '');
    shim(id).init!.exit(2);
    await expect.poll(() => f.rt.d.store.sandboxes.get(id).state).toBe('notready');
  });
  describe('without an infra container (containers not sharing PIDs)', () => {
    // The host's IPC (no shm tmpfs to mount here): the pod pins its UTS namespace.
    const lean = (name: string) => podConfig(name, true, 'CONTAINER');
    const specOf = (id: string) =>
      JSON.parse(Buffer.from(f.records.get(id)!.spec!.value).toString('utf8'));

    it('pins IPC and UTS beside the network, with no pause task, snapshot or record', async () => {
      const config = lean('web');
      config.linux!.sysctls = { 'net.ipv4.ip_unprivileged_port_start': '80' };
      const id = await f.rt.runPodSandbox(config, '');
      const sb = f.rt.d.store.sandboxes.get(id);
      expect(sb).toMatchObject({ state: 'ready', ips: ['10.88.0.5'], pid: 0, image: '' });
      expect(sb.pinnedNs).toEqual({ ipc: undefined, uts: path.join(sb.dir, 'ns', 'uts') });
      expect(f.calls.podPins).toMatchObject([
        {
          netnsPath: sb.netnsPath,
          hostname: 'web',
          hostIpc: true,
          hostNetwork: false,
          sysctls: { 'net.ipv4.ip_unprivileged_port_start': '80' },
        },
      ]);
      expect(f.tasks.manager.list(CRI_NAMESPACE)).toEqual([]);
      expect(f.records.size).toBe(0);
      expect(f.snapshots.size).toBe(0);

      // Its containers join the pinned files, each with a PID namespace of its own.
      const cid = await f.rt.createContainer(
        id,
        containerConfig('app', {
          linux: { securityContext: { namespaceOptions: { pid: 'CONTAINER' } } },
        }),
        config,
      );
      const namespaces = specOf(cid).linux.namespaces;
      expect(namespaces).toContainEqual({ type: 'network', path: sb.netnsPath });
      expect(namespaces.find((n: { type: string }) => n.type === 'ipc')).toBeUndefined();
      expect(namespaces).toContainEqual({ type: 'uts', path: sb.pinnedNs!.uts });
      expect(namespaces).toContainEqual({ type: 'pid' });
      await f.rt.startContainer(cid);

      // A container asking for the pod's PID namespace is refused: there is none.
      await expect(
        f.rt.createContainer(
          id,
          containerConfig('shared', {
            linux: { securityContext: { namespaceOptions: { pid: 'POD' } } },
          }),
          config,
        ),
      ).rejects.toMatchObject({ code: 'FailedPrecondition' });

      await f.rt.stopPodSandbox(id);
      expect(f.rt.d.store.containers.get(cid)).toMatchObject({ state: 'exited' });
      expect(f.rt.d.store.sandboxes.get(id)).toMatchObject({ state: 'notready' });
      expect(existsSync(sb.pinnedNs!.uts!)).toBe(false);
      await f.rt.removePodSandbox(id);
      expect(f.rt.d.store.sandboxes.list()).toEqual([]);
      await expect(fs.access(sb.dir)).rejects.toThrow();
    });

    it('undoes the network and pins when a later step fails', async () => {
      const config = lean('web');
      // A sysctl of the host's IPC namespace is refused before anything is made.
      config.linux!.sysctls = { 'kernel.shm_rmid_forced': '1' };
      await expect(f.rt.runPodSandbox(config, '')).rejects.toMatchObject({
        code: 'InvalidArgument',
      });
      expect(f.calls.cniSetup).toEqual([]);
      f.rt.d.podNamespaces!.pin = async () => {
        throw new Error('pin failed');
      };
      await expect(f.rt.runPodSandbox(lean('web'), '')).rejects.toThrow('pin failed');
      expect(f.calls.cniTeardown).toHaveLength(1);
      expect(f.rt.d.store.sandboxes.list()).toEqual([]);
      expect(await fs.readdir(path.join(dir, 'cri-state', 'netns'))).toEqual([]);
      expect(await fs.readdir(path.join(dir, 'cri-state', 'sandboxes'))).toEqual([]);
    });

    it('gets a pause all the same with drop_infra_ctr off', async () => {
      f.rt.d.config.drop_infra_ctr = false;
      const id = await f.rt.runPodSandbox(lean('web'), '');
      const sb = f.rt.d.store.sandboxes.get(id);
      expect(sb.pinnedNs).toBeUndefined();
      expect(sb.pid).toBe(shim(id).init!.pid);
      expect(f.calls.podPins).toEqual([]);
    });

    it('stays ready across a restart while its pins are in place, and not after', async () => {
      const kept = await f.rt.runPodSandbox(lean('kept'), '');
      const lost = await f.rt.runPodSandbox(lean('lost'), '');
      await fs.rm(f.rt.d.store.sandboxes.get(lost).pinnedNs!.uts!);
      const g = await f.restart();
      try {
        expect(g.rt.d.store.sandboxes.get(kept).state).toBe('ready');
        expect(g.rt.d.store.sandboxes.get(lost).state).toBe('notready');
      } finally {
        f = g;
      }
    });
  });
});
