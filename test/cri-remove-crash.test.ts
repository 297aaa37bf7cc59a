// RemoveContainer across a berthd crash: the snapshot and the container's
// metadata record go in one commit and the backend's directories are removed
// after the answer, so berthd killed right after RemoveContainer answers must
// come back with no trace of the containers once the collector has run.

import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { podConfig } from './helpers/cri.js';
import { criEnvAcrossRestarts } from './helpers/cri-env.js';
import { berth } from './helpers/daemon.js';

const isRoot = process.getuid?.() === 0;
const haveCni = existsSync('/usr/lib/cni/bridge');

describe.skipIf(!isRoot || !haveCni)('CRI RemoveContainer across kill -9', () => {
  const env = criEnvAcrossRestarts();

  it('leaves no container record, snapshot or backend directory behind', async () => {
    const cri = () => env().cri.runtime;
    const config = podConfig('removed', '');
    const { podSandboxId } = await cri().runPodSandbox({ config });
    const backendDirs = async () =>
      (
        await fs.readdir(path.join(env().d.root, 'io.berth.snapshotter.v1.overlayfs', 'snapshots'))
      ).sort();
    const create = async (name: string) =>
      (
        await cri().createContainer({
          podSandboxId,
          config: { metadata: { name }, image: { image: 'busybox' }, command: ['true'] },
          sandboxConfig: config,
        })
      ).containerId;
    const ids: string[] = [];
    for (const name of ['a', 'b', 'c', 'd']) ids.push(await create(name));
    for (const containerId of ids) await cri().removeContainer({ containerId });
    // At once: the last backend removals may not have run yet.
    await env().d.stop('SIGKILL');
    await env().d.restart();

    expect((await cri().listContainers({})).containers).toEqual([]);
    const records = await berth(env().d, ['containers', 'ls'], { namespace: 'k8s.io' });
    const snapshots = await berth(env().d, ['snapshots', 'ls'], { namespace: 'k8s.io' });
    for (const out of [records, snapshots]) {
      expect(out.code).toBe(0);
      for (const id of ids) expect(out.stdout).not.toContain(id);
    }
    // The collector removes a backend snapshot whose record is gone: then each
    // directory left is a snapshot of k8s.io (the only namespace here).
    expect((await berth(env().d, ['gc'])).code).toBe(0);
    const recorded = snapshots.stdout.trim().split('\n').length - 1; // less the header
    expect(recorded).toBeGreaterThan(0);
    expect((await backendDirs()).length).toBe(recorded);

    await cri().stopPodSandbox({ podSandboxId });
    await cri().removePodSandbox({ podSandboxId });
  });
});
