// One berthd for the step breakdown: the CRI plugin on a bridge network of its
// own with the fixture images, tracing to a collector, and Berth's client for
// the containerd task API. Clean-up goes through the daemon (pods, tasks,
// containers), then by pid and `runc delete --force` for anything left.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { Client } from '../../client/client.js';
import type { BuiltImage } from '../../test/fixtures/image-builder.js';
import {
  type CriClient,
  criClient,
  importImage,
  testNetwork,
  unmountUnder,
} from '../../test/helpers/cri.js';
import type { Cleanup } from './cleanup.js';
import { CNI_BIN, SANDBOX_IMAGE } from './cri-hosts.js';
import { type DaemonHandle, startBerthd } from './daemons.js';
import { isAlive, terminate } from './processes.js';
import { tempDir } from './tempdir.js';
import {
  BENCH_NAMESPACE,
  BERTHD_BERTH_SHIM,
  type TaskHost,
  newBenchContainer,
  processesWithArgument,
  removeEmptyNamespaceDirs,
  runcForceDelete,
} from './task-hosts.js';

export interface TracedBerthd {
  daemon: DaemonHandle;
  cri: CriClient;
  /** The containerd task API side, in BENCH_NAMESPACE, for tasks.ts's runRm. */
  tasks: TaskHost;
  dispose(): Promise<void>;
}

function config(endpoint: string, dir: string, cniConfDir: string): string {
  return [
    'version = 1',
    '[tracing]',
    `endpoint = "${endpoint}"`,
    '[plugins."io.berth.grpc.v1.cri"]',
    `sandbox_image = "${SANDBOX_IMAGE}"`,
    `registry_config_path = "${path.join(dir, 'certs.d')}"`,
    '[plugins."io.berth.grpc.v1.cri".cni]',
    `conf_dir = "${cniConfDir}"`,
    `bin_dirs = ["${CNI_BIN}"]`,
    '',
  ].join('\n');
}

/**
 * Starts berthd with `[tracing] endpoint` set. `octet` picks the pod subnet
 * (10.<octet>.x.0/24); `env` is added to the daemon's (and so its shims') environment.
 */
export async function startTracedBerthd(
  cleanup: Cleanup,
  o: {
    endpoint: string;
    images: BuiltImage[];
    rootfs: string;
    octet: number;
    env?: NodeJS.ProcessEnv;
  },
): Promise<TracedBerthd> {
  // CNI config, IPAM state and registry hosts: made before the daemon, which reads them.
  const netDir = await tempDir(cleanup, 'berth-steps-net-');
  const net = await testNetwork(netDir.path, o.octet);
  cleanup.defer(`remove bridge ${net.bridge}`, () => net.dispose());
  const daemon = await startBerthd(cleanup, {
    env: o.env,
    config: config(o.endpoint, netDir.path, net.confDir),
  });
  for (const img of o.images) await importImage(daemon.socket, img);
  const cri = criClient(daemon.socket);
  const client = new Client({
    address: daemon.socket,
    namespace: BENCH_NAMESPACE,
    timeoutMs: 30_000,
  });
  const ids = new Set<string>();
  const pids = new Set<number>();
  const shimPids = () => processesWithArgument(daemon.socket, [daemon.pid, process.pid]);

  const dispose = async (): Promise<void> => {
    const pods = await cri.runtime.listPodSandbox({}).catch(() => ({ items: [] }));
    for (const p of pods.items) {
      await cri.runtime.stopPodSandbox({ podSandboxId: p.id }).catch(() => {});
      await cri.runtime.removePodSandbox({ podSandboxId: p.id }).catch(() => {});
    }
    cri.close();
    for (const t of await client.tasks.list().catch(() => [])) {
      await client.tasks.kill(t.id, 9, { all: true }).catch(() => {});
      await client.tasks.delete(t.id).catch(() => {});
    }
    for (const c of await client.containers.list().catch(() => [])) {
      await client.containers.delete(c.id).catch(() => {});
    }
    client.close();
    const left = shimPids();
    await daemon.stop(10_000);
    // Shims outlive their daemon: what it did not stop goes by pid (SIGTERM
    // first, so a profiled shim still writes its profile).
    for (const pid of [...left, ...shimPids(), ...pids]) {
      if (isAlive(pid)) await terminate(pid, { graceMs: 2000 });
    }
    // berth-shim keeps runc's state under the daemon's state directory.
    const state = path.join(daemon.dir, 'state', 'runc', BENCH_NAMESPACE);
    for (const id of ids) {
      if (existsSync(path.join(state, id))) await runcForceDelete(state, id);
    }
    await unmountUnder(daemon.dir);
    await daemon.dispose();
    removeEmptyNamespaceDirs();
  };
  const disposal = cleanup.defer('remove the traced berthd, its pods and tasks', dispose);

  const tasks: TaskHost = {
    subject: BERTHD_BERTH_SHIM,
    daemon,
    client,
    fifoRoot: path.join(daemon.dir, 'fifo'),
    async newContainer(id, args) {
      ids.add(id);
      return newBenchContainer(client, o.rootfs, BERTHD_BERTH_SHIM.runtime, id, args);
    },
    trackPid: (pid) => void pids.add(pid),
    async destroyTask(task) {
      await task.kill(9);
      await task.wait();
      await task.delete();
      pids.delete(task.pid);
    },
    shimPids,
    dispose: disposal.now,
  };
  return { daemon, cri, tasks, dispose: disposal.now };
}
