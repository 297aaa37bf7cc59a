// Containers of a pod: CreateContainer (snapshot, user, spec, records),
// StartContainer (stdio FIFOs and log, the task in the pod's shim), Stop,
// Remove, UpdateContainerResources and ReopenContainerLog.

import path from 'node:path';
import {
  errFailedPrecondition,
  errInvalidArgument,
  isNotFound,
} from '../../core/errors/catalogue.js';
import { FifoSet } from '../../core/runtime/fifo-io.js';
import type { Spec } from '../../core/oci/index.js';
import {
  OCI_RESOURCES_TYPE_URL,
  OCI_SPEC_TYPE_URL,
  packJson,
} from '../../core/protobuf/typeurl.js';
import {
  ContainerConfig,
  type LinuxContainerResources,
  NamespaceMode,
  type PodSandboxConfig,
} from '../../api/gen/cri/runtime/v1/api.js';
import { resolveHandler } from './config.js';
import { resolveContainerUser } from './container-user.js';
import { CRI_NAMESPACE } from './image-store.js';
import type { CriLogWriter } from './log-writer.js';
import { containerName } from './names.js';
import { sandboxNamespaces } from './pod-namespaces.js';
import {
  type CriContext,
  KIND_LABEL,
  newId,
  nowNs,
  runtimeOptions,
  toPbMounts,
} from './runtime-context.js';
import { requireImage } from './runtime-images.js';
import { applyResources, containerSpec, hugepageHandling } from './spec.js';
import { type ContainerRecord, containerConfigOf } from './store.js';
import { deleteTask, killTask, watchExit } from './task-exits.js';

export async function createContainer(
  cx: CriContext,
  sandboxId: string,
  config: ContainerConfig,
  sandboxConfigReq: PodSandboxConfig | undefined,
): Promise<string> {
  const sb = cx.d.store.sandboxes.resolve(sandboxId);
  if (sb.state !== 'ready') throw errFailedPrecondition(`pod sandbox ${sb.id} is not ready`);
  if (!config.metadata?.name) throw errInvalidArgument('config.metadata.name is required');
  if (!config.image?.image) throw errInvalidArgument('config.image.image is required');
  const sandboxConfig = sandboxConfigReq?.metadata ? sandboxConfigReq : cx.sandboxConfig(sb);
  const meta = cx.sandboxConfig(sb).metadata!;
  const name = containerName(config.metadata, meta);
  let logPath = '';
  if (config.logPath) {
    const base = cx.sandboxConfig(sb).logDirectory;
    if (!base)
      throw errInvalidArgument('config.log_path is set but the pod sandbox has no log_directory');
    logPath = path.resolve(base, config.logPath);
    if (!logPath.startsWith(path.resolve(base) + path.sep)) {
      throw errInvalidArgument(
        `config.log_path ${JSON.stringify(config.logPath)} leaves the log directory`,
      );
    }
  }
  const id = newId();
  cx.names.reserve(name, id);
  const undo: (() => Promise<unknown>)[] = [async () => cx.names.release(name)];
  try {
    const imageName = config.image.image;
    const image = await requireImage(cx, imageName, 'config.image.image');
    const top = await cx.d.images.ensureUnpacked(image);
    // Under a lease until the record refers to the snapshot: the collector may run between.
    const user = await cx.d.images.withLease(async (lease) => {
      const mounts = await cx.d.snapshotter.prepare(CRI_NAMESPACE, id, top, {
        labels: { [KIND_LABEL]: 'container' },
        lease,
      });
      undo.push(() => cx.d.snapshotter.remove(CRI_NAMESPACE, id));
      const user = await resolveContainerUser(config, image, mounts, cx.d.stateDir);
      const handler = resolveHandler(cx.d.config, sb.runtimeHandler);
      const targetId = config.linux?.securityContext?.namespaceOptions?.targetId;
      let targetPid: number | undefined;
      if (config.linux?.securityContext?.namespaceOptions?.pid === NamespaceMode.TARGET) {
        const target = cx.d.store.containers.resolve(targetId ?? '');
        if (!target.pid)
          throw errFailedPrecondition(`target container ${target.id} is not running`);
        targetPid = target.pid;
      }
      const spec = containerSpec({
        id,
        sandboxId: sb.id,
        config,
        sandboxConfig,
        image,
        imageName,
        sandboxNs: sandboxNamespaces(sb),
        targetPid,
        user,
        sandboxDir: sb.dir,
        shmPath: path.join(sb.dir, 'shm'),
        hugepages: hugepageHandling(cx.d.config),
      });
      await cx.createDbRecord(
        id,
        handler.runtime_type,
        spec,
        image.names[0] ?? image.id,
        'container',
        id,
        sb.id,
      );
      undo.push(() => cx.d.containers.delete(CRI_NAMESPACE, id));
      return user;
    });
    const rec: ContainerRecord = {
      id,
      sandboxId: sb.id,
      name,
      config: ContainerConfig.toJSON(config),
      image: config.image.image,
      imageId: image.id,
      imageRef: image.id,
      snapshotKey: id,
      createdAt: nowNs(),
      startedAt: 0,
      finishedAt: 0,
      exitCode: 0,
      reason: '',
      message: '',
      state: 'created',
      pid: 0,
      logPath,
      stopSignal: image.config.StopSignal ?? '',
      uid: user.uid,
      gid: user.gid,
      additionalGids: user.additionalGids,
    };
    await cx.d.store.containers.put(rec);
    cx.emit('created', id);
    return id;
  } catch (err) {
    for (const u of undo.reverse()) {
      await u().catch((e) =>
        cx.d.log.warn({ err: e, container: id }, 'undoing a failed CreateContainer'),
      );
    }
    throw err;
  }
}

export async function startContainer(cx: CriContext, idOrPrefix: string): Promise<void> {
  const rec = cx.d.store.containers.resolve(idOrPrefix);
  await cx.lock.run(rec.id, async () => {
    if (rec.state !== 'created') {
      throw errFailedPrecondition(`container ${rec.id} is ${rec.state}, not created`);
    }
    const sb = cx.d.store.sandboxes.get(rec.sandboxId);
    if (sb.state !== 'ready') throw errFailedPrecondition(`pod sandbox ${sb.id} is not ready`);
    const db = await cx.d.containers.get(CRI_NAMESPACE, rec.id);
    const handler = resolveHandler(cx.d.config, sb.runtimeHandler);
    const config = containerConfigOf(rec);
    const fifo = FifoSet.create(rec.id.slice(0, 12), {
      root: cx.fifoRoot,
      stdin: config.stdin,
      terminal: config.tty,
    });
    let writer: CriLogWriter | undefined;
    try {
      writer = cx.logs.follow(fifo, rec.logPath, !config.tty);
      const mounts = await cx.d.snapshotter.mounts(CRI_NAMESPACE, rec.snapshotKey);
      const { task, pid } = await cx.d.tasks.create({
        namespace: CRI_NAMESPACE,
        id: rec.id,
        runtime: db.runtime.name,
        spec: db.spec?.value,
        rootfs: toPbMounts(mounts),
        stdin: fifo.paths.stdin,
        stdout: fifo.paths.stdout,
        stderr: fifo.paths.stderr,
        terminal: fifo.paths.terminal,
        options: runtimeOptions(handler.binary_name),
      });
      try {
        await task.start();
      } catch (err) {
        await deleteTask(cx, rec.id).catch(() => {});
        throw err;
      }
      fifo.detach();
      cx.logs.keep(rec.id, writer, fifo);
      // Attach clients get the same output (see attach-hubs.ts).
      cx.events.emit('stdio', {
        id: rec.id,
        fifo,
        tty: config.tty,
        stdinOnce: config.stdinOnce,
      });
      rec.pid = pid;
      rec.state = 'running';
      rec.startedAt = nowNs();
      await cx.d.store.containers.put(rec);
      watchExit(cx, rec.id, 'container');
      cx.emit('started', rec.id);
    } catch (err) {
      writer?.close();
      await fifo.close(0).catch(() => {});
      rec.state = 'exited';
      rec.reason = 'StartError';
      rec.message = (err as Error).message;
      rec.exitCode = 128;
      rec.finishedAt = nowNs();
      await cx.d.store.containers.put(rec);
      throw err;
    }
  });
}

export async function stopContainer(
  cx: CriContext,
  idOrPrefix: string,
  timeoutS: number,
): Promise<void> {
  let rec: ContainerRecord;
  try {
    rec = cx.d.store.containers.resolve(idOrPrefix);
  } catch (err) {
    if (isNotFound(err)) return; // gone already: stopping is idempotent, as the kubelet expects
    throw err;
  }
  if (rec.state !== 'running') return;
  await killTask(cx, rec.id, timeoutS, rec.stopSignal || 'SIGTERM');
  await cx.exits.get(rec.id);
}

export async function removeContainer(cx: CriContext, idOrPrefix: string): Promise<void> {
  let rec: ContainerRecord;
  try {
    rec = cx.d.store.containers.resolve(idOrPrefix);
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  if (rec.state === 'running') await stopContainer(cx, rec.id, 0);
  await cx.lock.run(rec.id, async () => {
    await deleteTask(cx, rec.id);
    // The snapshot and the container's metadata record go in one synced
    // commit; the backend's directories are removed in the background (the
    // collector takes them if a crash comes first). The CRI record goes last:
    // while it is there, a retry finishes the rest.
    try {
      await cx.d.snapshotter.remove(CRI_NAMESPACE, rec.snapshotKey, {
        alongside: (tx) => cx.d.containers.deleteIn(tx, CRI_NAMESPACE, rec.id),
        deferBackend: true,
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      // The snapshot was gone already: the metadata record on its own.
      await cx.d.containers.delete(CRI_NAMESPACE, rec.id).catch((e) => {
        if (!isNotFound(e)) throw e;
      });
    }
    await cx.d.store.containers.delete(rec.id);
    cx.names.release(rec.name);
    cx.emit('deleted', rec.id, rec.sandboxId); // the record is gone already
  });
}

export function reopenContainerLog(cx: CriContext, idOrPrefix: string): void {
  const rec = cx.d.store.containers.resolve(idOrPrefix);
  if (rec.state !== 'running') throw errFailedPrecondition(`container ${rec.id} is not running`);
  cx.logs.reopen(rec.id);
}

/**
 * Replaces the container's CPU, memory, hugepage and unified limits: in the
 * running task through the shim (runc update), and in the stored spec and
 * config so a later start and ContainerStatus see them.
 */
export async function updateContainerResources(
  cx: CriContext,
  idOrPrefix: string,
  resources: LinuxContainerResources,
): Promise<void> {
  const rec = cx.d.store.containers.resolve(idOrPrefix);
  await cx.lock.run(rec.id, async () => {
    if (rec.state === 'exited' || rec.state === 'unknown') {
      throw errFailedPrecondition(`container ${rec.id} is ${rec.state}; it cannot be updated`);
    }
    const spec = await cx.specOf(rec.id);
    const kept = spec.linux?.resources ?? {};
    // Device rules and pids stay; everything the CRI carries is replaced.
    const next: Spec = {
      ...spec,
      linux: {
        ...spec.linux,
        resources: { devices: kept.devices, pids: kept.pids, blockIO: kept.blockIO },
      },
    };
    applyResources(resources, hugepageHandling(cx.d.config))(next);
    const res = next.linux!.resources!;
    if (rec.state === 'running') {
      const { devices: _devices, ...forRunc } = res;
      await cx.d.tasks.get(CRI_NAMESPACE, rec.id).update(packJson(OCI_RESOURCES_TYPE_URL, forRunc));
    }
    await cx.d.containers.update(
      CRI_NAMESPACE,
      { id: rec.id, spec: packJson(OCI_SPEC_TYPE_URL, next) },
      ['spec'],
    );
    const config = ContainerConfig.fromJSON(rec.config);
    config.linux = { securityContext: config.linux?.securityContext, resources };
    rec.config = ContainerConfig.toJSON(config);
    await cx.d.store.containers.put(rec);
  });
}
