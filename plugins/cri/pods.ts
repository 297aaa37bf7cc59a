// Pod sandboxes: RunPodSandbox (pod files, shm, network namespace and CNI,
// then either pinned IPC/UTS namespaces or the pause container's snapshot,
// record and task), StopPodSandbox (its containers, the pause or the pins, the
// network) and RemovePodSandbox.

import path from 'node:path';
import { errInvalidArgument, isNotFound } from '../../core/errors/catalogue.js';
import { NamespaceMode, PodSandboxConfig } from '../../api/gen/cri/runtime/v1/api.js';
import { MNT, umount2 } from '../../native/index.js';
import { type CniPodArgs, type CniResult, resultIPs } from './cni.js';
import { type ResolvedHandler, resolveHandler } from './config.js';
import { removeContainer, stopContainer } from './containers.js';
import { type CriImage } from './image-index.js';
import { CRI_NAMESPACE } from './image-store.js';
import { sandboxName } from './names.js';
import * as netnsPins from './netns.js';
import { podNamespacePins, runsWithoutInfra } from './pod-namespaces.js';
import {
  type CriContext,
  type NetnsPins,
  KIND_LABEL,
  newId,
  nowNs,
  runtimeOptions,
  toPbMounts,
} from './runtime-context.js';
import { sandboxImage } from './runtime-images.js';
import { mountShm, removePodFiles, writePodFiles } from './sandbox-files.js';
import { checkSysctls, sandboxSpec } from './spec.js';
import type { SandboxRecord } from './store.js';
import { deleteTask, killTask, watchExit } from './task-exits.js';

export async function runPodSandbox(
  cx: CriContext,
  config: PodSandboxConfig,
  runtimeHandler: string,
): Promise<string> {
  const m = config.metadata;
  if (!m) throw errInvalidArgument('config.metadata is required');
  if (!m.name) throw errInvalidArgument('config.metadata.name is required');
  if (!m.namespace) throw errInvalidArgument('config.metadata.namespace is required');
  if (!m.uid) throw errInvalidArgument('config.metadata.uid is required');
  const handler = resolveHandler(cx.d.config, runtimeHandler);
  const ns = config.linux?.securityContext?.namespaceOptions;
  const hostNet = ns?.network === NamespaceMode.NODE;
  const hostIpc = ns?.ipc === NamespaceMode.NODE;
  const sysctls = config.linux?.sysctls ?? {};
  checkSysctls(sysctls, hostNet, hostIpc);
  const name = sandboxName(m);
  const id = newId();
  cx.names.reserve(name, id);
  const undo: (() => Promise<unknown>)[] = [async () => cx.names.release(name)];
  try {
    // Only a pod with an infra container needs its image (checked first: the cheapest failure).
    const infraImage = runsWithoutInfra(cx.d.config, config) ? undefined : await sandboxImage(cx);
    const dir = path.join(cx.d.stateDir, 'sandboxes', id);
    undo.push(() => removePodFiles(dir));
    await writePodFiles(dir, {
      hostname: config.hostname,
      hostNetwork: hostNet,
      dns: config.dnsConfig,
    });
    const shmPath = hostIpc ? undefined : await mountShm(dir, cx.d.config.shm_size);

    const rec: SandboxRecord = {
      id,
      name,
      config: PodSandboxConfig.toJSON(config),
      runtimeHandler: handler.name,
      createdAt: nowNs(),
      state: 'notready',
      ips: [],
      dir,
      image: '',
      snapshotKey: '',
      pid: 0,
      networkDown: hostNet,
    };

    if (!hostNet) {
      rec.netnsPath = await netns(cx).create(path.join(cx.d.stateDir, 'netns'), id);
      undo.push(() => netns(cx).remove(rec.netnsPath!));
      const args = cniArgs(rec, config);
      const { result } = await cx.d.cni.setup(args);
      undo.push(() => cx.d.cni.teardown(args, result));
      rec.cniResult = result;
      rec.ips = resultIPs(result);
    }

    if (!infraImage) {
      // After CNI: sysctls may name the interfaces it made.
      rec.pinnedNs = await podNamespacePins(cx.d).pin({
        dir,
        netnsPath: rec.netnsPath,
        hostNetwork: hostNet,
        hostIpc,
        hostname: config.hostname,
        sysctls,
      });
      undo.push(() => podNamespacePins(cx.d).unpin(rec));
      rec.state = 'ready';
      await cx.d.store.sandboxes.put(rec);
      return id;
    }
    await startInfraContainer(cx, rec, config, handler, infraImage, shmPath, undo);
    return id;
  } catch (err) {
    for (const u of undo.reverse()) {
      await u().catch((e) =>
        cx.d.log.warn({ err: e, sandbox: id }, 'undoing a failed RunPodSandbox'),
      );
    }
    throw err;
  }
}

/** The pause container: its snapshot, metadata record and task; the record becomes ready. */
async function startInfraContainer(
  cx: CriContext,
  rec: SandboxRecord,
  config: PodSandboxConfig,
  handler: ResolvedHandler,
  image: CriImage,
  shmPath: string | undefined,
  undo: (() => Promise<unknown>)[],
): Promise<void> {
  const id = rec.id;
  const top = await cx.d.images.ensureUnpacked(image);
  rec.image = image.id;
  rec.snapshotKey = id;
  // Under a lease until the record refers to the snapshot: the collector may run between.
  const { mounts, spec } = await cx.d.images.withLease(async (lease) => {
    const mounts = await cx.d.snapshotter.prepare(CRI_NAMESPACE, id, top, {
      labels: { [KIND_LABEL]: 'sandbox' },
      lease,
    });
    undo.push(() => cx.d.snapshotter.remove(CRI_NAMESPACE, id));
    const spec = sandboxSpec({ id, config, image, netnsPath: rec.netnsPath, shmPath });
    await cx.createDbRecord(
      id,
      handler.runtime_type,
      spec,
      image.names[0] ?? image.id,
      'sandbox',
      id,
    );
    undo.push(() => cx.d.containers.delete(CRI_NAMESPACE, id));
    return { mounts, spec };
  });
  await cx.d.store.sandboxes.put(rec);
  undo.push(() => cx.d.store.sandboxes.delete(id));

  const { task, pid } = await cx.d.tasks.create({
    namespace: CRI_NAMESPACE,
    id,
    runtime: handler.runtime_type,
    spec: Buffer.from(JSON.stringify(spec)),
    rootfs: toPbMounts(mounts),
    stdin: '',
    stdout: '',
    stderr: '',
    terminal: false,
    options: runtimeOptions(handler.binary_name),
  });
  undo.push(() => cx.d.tasks.delete(CRI_NAMESPACE, id));
  await task.start();
  rec.pid = pid;
  rec.state = 'ready';
  await cx.d.store.sandboxes.put(rec);
  watchExit(cx, id, 'sandbox');
}

function netns(cx: CriContext): NetnsPins {
  return cx.d.netns ?? { create: netnsPins.createNetns, remove: netnsPins.removeNetns };
}

function cniArgs(rec: SandboxRecord, config: PodSandboxConfig): CniPodArgs {
  return {
    containerId: rec.id,
    netnsPath: rec.netnsPath ?? '',
    ifName: 'eth0',
    podName: config.metadata?.name ?? '',
    podNamespace: config.metadata?.namespace ?? '',
    podUid: config.metadata?.uid ?? '',
    portMappings: config.portMappings
      .filter((p) => p.hostPort > 0)
      .map((p) => ({
        hostPort: p.hostPort,
        containerPort: p.containerPort,
        protocol: ['tcp', 'udp', 'sctp'][p.protocol] ?? 'tcp',
        hostIP: p.hostIp,
      })),
  };
}

export async function stopPodSandbox(cx: CriContext, idOrPrefix: string): Promise<void> {
  const rec = cx.d.store.sandboxes.resolve(idOrPrefix);
  await cx.lock.run(rec.id, async () => {
    for (const c of cx.d.store.containers.list().filter((x) => x.sandboxId === rec.id)) {
      await stopContainer(cx, c.id, 0);
    }
    await killTask(cx, rec.id, 0, 'SIGTERM');
    await podNamespacePins(cx.d).unpin(rec);
    if (!rec.networkDown) {
      if (rec.netnsPath) {
        await cx.d.cni.teardown(cniArgs(rec, cx.sandboxConfig(rec)), rec.cniResult as CniResult);
        await netns(cx).remove(rec.netnsPath);
      }
      rec.networkDown = true;
    }
    try {
      umount2(path.join(rec.dir, 'shm'), MNT.DETACH);
    } catch {
      /* not mounted (host IPC, or already stopped) */
    }
    rec.state = 'notready';
    await cx.d.store.sandboxes.put(rec);
  });
}

export async function removePodSandbox(cx: CriContext, idOrPrefix: string): Promise<void> {
  let rec: SandboxRecord;
  try {
    rec = cx.d.store.sandboxes.resolve(idOrPrefix);
  } catch (err) {
    if (isNotFound(err)) return; // already removed: idempotent
    throw err;
  }
  await stopPodSandbox(cx, rec.id);
  await cx.lock.run(rec.id, async () => {
    for (const c of cx.d.store.containers.list().filter((x) => x.sandboxId === rec.id)) {
      await removeContainer(cx, c.id);
    }
    await deleteTask(cx, rec.id);
    if (rec.snapshotKey) {
      await cx.d.snapshotter.remove(CRI_NAMESPACE, rec.snapshotKey).catch((err) => {
        if (!isNotFound(err)) throw err;
      });
    }
    await cx.d.containers.delete(CRI_NAMESPACE, rec.id).catch((err) => {
      if (!isNotFound(err)) throw err;
    });
    await removePodFiles(rec.dir);
    await cx.d.store.sandboxes.delete(rec.id);
    cx.names.release(rec.name);
  });
}
