// The CRI runtime core: pod sandboxes and their containers on top of the task
// manager, snapshotter, images and CNI, with state kept in CriStore. The RPC
// surface (runtime-service.ts) validates requests and maps records to messages.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import {
  BerthError,
  isBerthError,
  errDeadlineExceeded,
  errFailedPrecondition,
  errInvalidArgument,
  errNotFound,
  isNotFound,
} from '../../core/errors/catalogue.js';
import { FifoSet } from '../../core/runtime/fifo-io.js';
import { KeyedMutex } from '../../core/metadata/keyed-mutex.js';
import { signalByName } from '../../core/oci/signals.js';
import { Options as RuncOptions } from '../../api/gen/containerd/runc/v1/oci.js';
import { Status as TaskStatus } from '../../api/gen/containerd/types/task/task.js';
import type { Mount as PbMount } from '../../api/gen/containerd/types/mount.js';
import {
  ContainerConfig,
  type LinuxContainerResources,
  NamespaceMode,
  PodSandboxConfig,
} from '../../api/gen/cri/runtime/v1/api.js';
import { fromTimestamp } from '../../core/protobuf/timestamp.js';
import {
  OCI_PROCESS_TYPE_URL,
  OCI_RESOURCES_TYPE_URL,
  OCI_SPEC_TYPE_URL,
  packAny,
  packJson,
} from '../../core/protobuf/typeurl.js';
import { type ResolvedUser, type Spec, resolveUser } from '../../core/oci/index.js';
import { MNT, umount2 } from '../../native/index.js';
import { mountAll, unmountAll } from '../../core/mount/mount-all.js';
import type { ContainerStore } from '../../core/metadata/containers.js';
import type { NamespacedSnapshotter } from '../snapshots/namespaced.js';
import type { StateResponse } from '../../api/gen/containerd/task/v2/shim.js';
import { withGrowingDeadline } from '../../core/runtime/growing-deadline.js';
import type { TaskManager } from '../tasks/manager.js';
import { type CniPodArgs, type CniResult, type CniRuntime, resultIPs } from './cni.js';
import { type CriConfig, resolveHandler } from './config.js';
import { pullImage } from './image-pull.js';
import { CriLogWriter } from './log-writer.js';
import { type CriImageStore, type ResolvedImage, CRI_NAMESPACE } from './image-store.js';
import { NameIndex, containerName, sandboxName } from './names.js';
import { createNetns, removeNetns } from './netns.js';
import { mountShm, removePodFiles, writePodFiles } from './sandbox-files.js';
import { applyResources, containerSpec, hugepageHandling, sandboxSpec } from './spec.js';
import type { ContainerRecord, CriStore, SandboxRecord } from './store.js';

const SNAPSHOTTER = 'overlayfs';
const KIND_LABEL = 'io.cri-containerd.kind';
/** ExecSync output is capped (CVE-2022-1708); the rest is discarded. */
export const EXEC_OUTPUT_LIMIT = 16 << 20;

export type ContainerEventKind = 'created' | 'started' | 'stopped' | 'deleted';

/** What `events` emits as 'event'. */
export interface ContainerEvent {
  kind: ContainerEventKind;
  id: string;
  /** The container's pod, also once the container record is gone. */
  sandboxId: string | undefined;
  at: number;
}

export interface RuntimeDeps {
  config: CriConfig;
  store: CriStore;
  manager: TaskManager;
  containers: ContainerStore;
  snapshotter: NamespacedSnapshotter;
  images: CriImageStore;
  cni: CniRuntime;
  /** Plugin state directory: netns pins, pod files, FIFOs. */
  stateDir: string;
  log: Logger;
}

function nowNs(): number {
  return Date.now() * 1e6;
}

function newId(): string {
  return randomBytes(32).toString('hex');
}

function toPbMounts(ms: { type: string; source: string; options: string[] }[]): PbMount[] {
  return ms.map((m) => ({ type: m.type, source: m.source, target: '', options: m.options }));
}

/** First limit for a recovered task's State call; doubled after each miss. */
const STATE_TIMEOUT_MS = 5_000;

/** What a task's shim says at recovery: no task (its shim is gone), no answer, or its state. */
type TaskProbe =
  { kind: 'none' } | { kind: 'unanswered'; err: unknown } | { kind: 'task'; state: StateResponse };

export class CriRuntime {
  readonly events = new EventEmitter();
  private readonly names = new NameIndex();
  /** Per id, so a stop and a remove of the same object do not interleave. */
  readonly lock = new KeyedMutex();
  private readonly logs = new Map<string, { writer: CriLogWriter; fifo: FifoSet }>();
  /** The sandbox image pull in flight, shared by concurrent RunPodSandbox calls. */
  private sandboxPull: Promise<unknown> | undefined;
  /** Resolves when the task of the id has exited and its record is updated. */
  private readonly exits = new Map<string, Promise<void>>();

  constructor(readonly d: RuntimeDeps) {
    this.events.setMaxListeners(0);
  }

  private get fifoRoot(): string {
    return path.join(this.d.stateDir, 'fifo');
  }

  private emit(
    kind: ContainerEventKind,
    id: string,
    sandboxId = this.d.store.containers.find(id)?.sandboxId,
  ): void {
    this.events.emit('event', { kind, id, sandboxId, at: nowNs() } satisfies ContainerEvent);
  }

  // ---------------------------------------------------------------- sandboxes

  async runPodSandbox(config: PodSandboxConfig, runtimeHandler: string): Promise<string> {
    const m = config.metadata;
    if (!m) throw errInvalidArgument('config.metadata is required');
    if (!m.name) throw errInvalidArgument('config.metadata.name is required');
    if (!m.namespace) throw errInvalidArgument('config.metadata.namespace is required');
    if (!m.uid) throw errInvalidArgument('config.metadata.uid is required');
    const handler = resolveHandler(this.d.config, runtimeHandler);
    const name = sandboxName(m);
    const id = newId();
    this.names.reserve(name, id);
    const undo: (() => Promise<unknown>)[] = [async () => this.names.release(name)];
    try {
      const image = await this.sandboxImage();
      const top = await this.d.images.ensureUnpacked(image);
      const ns = config.linux?.securityContext?.namespaceOptions;
      const hostNet = ns?.network === NamespaceMode.NODE;
      const hostIpc = ns?.ipc === NamespaceMode.NODE;
      const dir = path.join(this.d.stateDir, 'sandboxes', id);
      undo.push(() => removePodFiles(dir));
      await writePodFiles(dir, {
        hostname: config.hostname,
        hostNetwork: hostNet,
        dns: config.dnsConfig,
      });
      const shmPath = hostIpc ? undefined : await mountShm(dir, this.d.config.shm_size);

      const rec: SandboxRecord = {
        id,
        name,
        config: PodSandboxConfig.toJSON(config),
        runtimeHandler: handler.name,
        createdAt: nowNs(),
        state: 'notready',
        ips: [],
        dir,
        image: image.id,
        snapshotKey: id,
        pid: 0,
        networkDown: hostNet,
      };

      if (!hostNet) {
        rec.netnsPath = await createNetns(path.join(this.d.stateDir, 'netns'), id);
        undo.push(() => removeNetns(rec.netnsPath!));
        const cniArgs = this.cniArgs(rec, config);
        const { result } = await this.d.cni.setup(cniArgs);
        undo.push(() => this.d.cni.teardown(cniArgs, result));
        rec.cniResult = result;
        rec.ips = resultIPs(result);
      }

      // Under a lease until the record refers to the snapshot: the collector may run between.
      const { mounts, spec } = await this.d.images.withLease(async (lease) => {
        const mounts = await this.d.snapshotter.prepare(CRI_NAMESPACE, id, top, {
          labels: { [KIND_LABEL]: 'sandbox' },
          lease,
        });
        undo.push(() => this.d.snapshotter.remove(CRI_NAMESPACE, id));
        const spec = sandboxSpec({ id, config, image, netnsPath: rec.netnsPath, shmPath });
        await this.createDbRecord(
          id,
          handler.runtime_type,
          spec,
          image.names[0] ?? image.id,
          'sandbox',
          id,
        );
        undo.push(() => this.d.containers.delete(CRI_NAMESPACE, id));
        return { mounts, spec };
      });
      await this.d.store.sandboxes.put(rec);
      undo.push(() => this.d.store.sandboxes.delete(id));

      const { pid } = await this.d.manager.create({
        namespace: CRI_NAMESPACE,
        id,
        runtime: handler.runtime_type,
        spec: Buffer.from(JSON.stringify(spec)),
        rootfs: toPbMounts(mounts),
        stdin: '',
        stdout: '',
        stderr: '',
        terminal: false,
        options: this.runtimeOptions(handler.binary_name),
      });
      undo.push(() => this.d.manager.delete(CRI_NAMESPACE, id));
      const t = this.d.manager.get(CRI_NAMESPACE, id);
      await t.task.start({ id, execId: '' }, t.opts());
      rec.pid = pid;
      rec.state = 'ready';
      await this.d.store.sandboxes.put(rec);
      this.watchExit(id, 'sandbox');
      return id;
    } catch (err) {
      for (const u of undo.reverse()) {
        await u().catch((e) =>
          this.d.log.warn({ err: e, sandbox: id }, 'undoing a failed RunPodSandbox'),
        );
      }
      throw err;
    }
  }

  private runtimeOptions(binary: string | undefined) {
    if (!binary) return undefined;
    return packAny('containerd.runc.v1.Options', RuncOptions, {
      ...RuncOptions.fromJSON({}),
      binaryName: binary,
    });
  }

  private async createDbRecord(
    id: string,
    runtime: string,
    spec: Spec,
    image: string,
    kind: 'sandbox' | 'container',
    snapshotKey: string,
    sandboxId?: string,
  ): Promise<void> {
    await this.d.containers.create(CRI_NAMESPACE, {
      id,
      runtime: { name: runtime },
      spec: packJson(OCI_SPEC_TYPE_URL, spec),
      image,
      labels: { [KIND_LABEL]: kind },
      snapshotter: SNAPSHOTTER,
      snapshotKey,
      sandboxId,
    });
  }

  private cniArgs(rec: SandboxRecord, config: PodSandboxConfig): CniPodArgs {
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

  sandboxConfig(rec: SandboxRecord): PodSandboxConfig {
    return PodSandboxConfig.fromJSON(rec.config);
  }

  async stopPodSandbox(idOrPrefix: string): Promise<void> {
    const rec = this.d.store.sandboxes.resolve(idOrPrefix);
    await this.lock.run(rec.id, async () => {
      for (const c of this.d.store.containers.list().filter((x) => x.sandboxId === rec.id)) {
        await this.stopContainer(c.id, 0);
      }
      await this.killTask(rec.id, 0, 'SIGTERM');
      if (!rec.networkDown) {
        if (rec.netnsPath) {
          await this.d.cni.teardown(
            this.cniArgs(rec, this.sandboxConfig(rec)),
            rec.cniResult as CniResult,
          );
          await removeNetns(rec.netnsPath);
        }
        rec.networkDown = true;
      }
      try {
        umount2(path.join(rec.dir, 'shm'), MNT.DETACH);
      } catch {
        /* not mounted (host IPC, or already stopped) */
      }
      rec.state = 'notready';
      await this.d.store.sandboxes.put(rec);
    });
  }

  async removePodSandbox(idOrPrefix: string): Promise<void> {
    let rec: SandboxRecord;
    try {
      rec = this.d.store.sandboxes.resolve(idOrPrefix);
    } catch (err) {
      if (isNotFound(err)) return; // already removed: idempotent
      throw err;
    }
    await this.stopPodSandbox(rec.id);
    await this.lock.run(rec.id, async () => {
      for (const c of this.d.store.containers.list().filter((x) => x.sandboxId === rec.id)) {
        await this.removeContainer(c.id);
      }
      await this.deleteTask(rec.id);
      await this.d.snapshotter.remove(CRI_NAMESPACE, rec.snapshotKey).catch((err) => {
        if (!isNotFound(err)) throw err;
      });
      await this.d.containers.delete(CRI_NAMESPACE, rec.id).catch((err) => {
        if (!isNotFound(err)) throw err;
      });
      await removePodFiles(rec.dir);
      await this.d.store.sandboxes.delete(rec.id);
      this.names.release(rec.name);
    });
  }

  // ---------------------------------------------------------------- tasks

  /** Sends `signal`, then SIGKILL after `timeoutS` seconds if the task is still there. */
  private async killTask(id: string, timeoutS: number, signal: string): Promise<void> {
    const t = this.d.manager.find(CRI_NAMESPACE, id);
    if (!t) return;
    const exited = this.exits.get(id) ?? Promise.resolve();
    const sig = signalNumber(signal);
    if (timeoutS > 0 && sig !== 9) {
      await t.task.kill({ id, execId: '', signal: sig, all: false }, t.opts()).catch(() => {});
      const done = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), timeoutS * 1000)),
      ]);
      if (done) return;
    }
    await t.task.kill({ id, execId: '', signal: 9, all: false }, t.opts()).catch(() => {});
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  }

  private async deleteTask(id: string): Promise<void> {
    if (!this.d.manager.find(CRI_NAMESPACE, id)) return;
    try {
      await this.d.manager.delete(CRI_NAMESPACE, id);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Records the exit of a sandbox's pause or a container's process when it happens. */
  private watchExit(id: string, kind: 'sandbox' | 'container'): void {
    const t = this.d.manager.find(CRI_NAMESPACE, id);
    if (!t) return;
    const p = (async () => {
      let exitStatus = 255;
      let exitedAt = Date.now() * 1e6;
      try {
        const r = await t.task.wait({ id, execId: '' }, t.opts());
        exitStatus = r.exitStatus;
        exitedAt = (fromTimestamp(r.exitedAt)?.getTime() ?? Date.now()) * 1e6;
      } catch {
        if (t.conn.closed) {
          const death = await t.deathExit();
          // berthd let go of the shim (it is stopping): the task runs on, and
          // the next start reconnects and watches it again. Not an exit.
          if (!death) return;
          exitStatus = death.exitStatus;
          exitedAt = (fromTimestamp(death.exitedAt)?.getTime() ?? Date.now()) * 1e6;
        }
      }
      await this.onExit(id, kind, exitStatus, exitedAt);
    })();
    this.exits.set(id, p);
  }

  private async onExit(
    id: string,
    kind: 'sandbox' | 'container',
    code: number,
    at: number,
  ): Promise<void> {
    if (kind === 'sandbox') {
      const rec = this.d.store.sandboxes.find(id);
      if (rec) {
        rec.state = 'notready';
        await this.d.store.sandboxes.put(rec);
      }
      return;
    }
    const rec = this.d.store.containers.find(id);
    if (!rec) return;
    const oom = await this.oomKilled(id);
    rec.state = 'exited';
    rec.exitCode = code;
    rec.finishedAt = at;
    rec.reason = oom ? 'OOMKilled' : code === 0 ? 'Completed' : 'Error';
    rec.pid = 0;
    await this.d.store.containers.put(rec);
    const log = this.logs.get(id);
    if (log) {
      this.logs.delete(id);
      await Promise.race([log.writer.done, new Promise((r) => setTimeout(r, 2_000))]);
      log.writer.close();
      await log.fifo.close(0).catch(() => {});
    }
    await this.deleteTask(id).catch((err) =>
      this.d.log.warn({ err, container: id }, 'deleting an exited task'),
    );
    this.emit('stopped', id);
  }

  /** cgroup v1 memory.oom_control counts OOM kills; the cgroup still exists until the task is deleted. */
  private async oomKilled(id: string): Promise<boolean> {
    try {
      const spec = await this.specOf(id);
      const cg = spec.linux?.cgroupsPath;
      if (!cg) return false;
      for (const file of [
        path.join('/sys/fs/cgroup/memory', cg, 'memory.oom_control'),
        path.join('/sys/fs/cgroup', cg, 'memory.events'),
      ]) {
        const text = await fs.readFile(file, 'utf8').catch(() => '');
        const n = /^oom_kill (\d+)$/m.exec(text)?.[1];
        if (n !== undefined) return Number(n) > 0;
      }
    } catch {
      /* no spec or cgroup: not known to be an OOM kill */
    }
    return false;
  }

  async specOf(id: string): Promise<Spec> {
    const c = await this.d.containers.get(CRI_NAMESPACE, id);
    if (!c.spec) throw errNotFound(`spec of ${id}`);
    return JSON.parse(Buffer.from(c.spec.value).toString('utf8')) as Spec;
  }

  // ---------------------------------------------------------------- containers

  async createContainer(
    sandboxId: string,
    config: ContainerConfig,
    sandboxConfigReq: PodSandboxConfig | undefined,
  ): Promise<string> {
    const sb = this.d.store.sandboxes.resolve(sandboxId);
    if (sb.state !== 'ready') throw errFailedPrecondition(`pod sandbox ${sb.id} is not ready`);
    if (!config.metadata?.name) throw errInvalidArgument('config.metadata.name is required');
    if (!config.image?.image) throw errInvalidArgument('config.image.image is required');
    const sandboxConfig = sandboxConfigReq?.metadata ? sandboxConfigReq : this.sandboxConfig(sb);
    const meta = this.sandboxConfig(sb).metadata!;
    const name = containerName(config.metadata, meta);
    let logPath = '';
    if (config.logPath) {
      const base = this.sandboxConfig(sb).logDirectory;
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
    this.names.reserve(name, id);
    const undo: (() => Promise<unknown>)[] = [async () => this.names.release(name)];
    try {
      const imageName = config.image.image;
      const image = await this.requireImage(imageName, 'config.image.image');
      const top = await this.d.images.ensureUnpacked(image);
      // Under a lease until the record refers to the snapshot: the collector may run between.
      const user = await this.d.images.withLease(async (lease) => {
        const mounts = await this.d.snapshotter.prepare(CRI_NAMESPACE, id, top, {
          labels: { [KIND_LABEL]: 'container' },
          lease,
        });
        undo.push(() => this.d.snapshotter.remove(CRI_NAMESPACE, id));
        const user = await this.resolveContainerUser(config, image, mounts);
        const handler = resolveHandler(this.d.config, sb.runtimeHandler);
        const targetId = config.linux?.securityContext?.namespaceOptions?.targetId;
        let targetPid: number | undefined;
        if (config.linux?.securityContext?.namespaceOptions?.pid === NamespaceMode.TARGET) {
          const target = this.d.store.containers.resolve(targetId ?? '');
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
          sandboxPid: sb.pid,
          targetPid,
          user,
          sandboxDir: sb.dir,
          shmPath: path.join(sb.dir, 'shm'),
          hugepages: hugepageHandling(this.d.config),
        });
        await this.createDbRecord(
          id,
          handler.runtime_type,
          spec,
          image.names[0] ?? image.id,
          'container',
          id,
          sb.id,
        );
        undo.push(() => this.d.containers.delete(CRI_NAMESPACE, id));
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
      await this.d.store.containers.put(rec);
      this.emit('created', id);
      return id;
    } catch (err) {
      for (const u of undo.reverse()) {
        await u().catch((e) =>
          this.d.log.warn({ err: e, container: id }, 'undoing a failed CreateContainer'),
        );
      }
      throw err;
    }
  }

  private async resolveContainerUser(
    config: ContainerConfig,
    image: ResolvedImage,
    mounts: { type: string; source: string; options: string[] }[],
  ): Promise<ResolvedUser> {
    const sc = config.linux?.securityContext;
    let userString = image.config.User ?? '';
    if (sc?.runAsUser) userString = String(sc.runAsUser.value);
    else if (sc?.runAsUsername) userString = sc.runAsUsername;
    if (sc?.runAsGroup) {
      if (!sc.runAsUser && !sc.runAsUsername) {
        throw errInvalidArgument(
          'config.linux.security_context.run_as_group needs run_as_user or run_as_username',
        );
      }
      userString = `${userString.split(':')[0]}:${sc.runAsGroup.value}`;
    }
    const user = await this.withRootfs(mounts, (root) => resolveUser(root, userString));
    const extra = (sc?.supplementalGroups ?? []).map(Number);
    return { ...user, additionalGids: [...new Set([...user.additionalGids, ...extra])] };
  }

  /** Mounts the prepared snapshot read-only on a temporary directory for `fn`. */
  private async withRootfs<T>(
    mounts: { type: string; source: string; options: string[] }[],
    fn: (root: string) => Promise<T>,
  ): Promise<T> {
    const m = mounts[0];
    if (!m) throw errFailedPrecondition('snapshot has no mounts');
    if (mounts.length === 1 && m.type === 'bind') return fn(m.source);
    const dir = await fs.mkdtemp(path.join(this.d.stateDir, 'rootfs-'));
    try {
      // The snapshotters' own mounting (long lowerdir lists included), read-only.
      mountAll(
        mounts.map((x) => ({ ...x, options: [...x.options.filter((o) => o !== 'rw'), 'ro'] })),
        dir,
      );
      try {
        return await fn(dir);
      } finally {
        unmountAll(dir);
      }
    } finally {
      await fs.rmdir(dir).catch(() => {});
    }
  }

  async startContainer(idOrPrefix: string): Promise<void> {
    const rec = this.d.store.containers.resolve(idOrPrefix);
    await this.lock.run(rec.id, async () => {
      if (rec.state !== 'created') {
        throw errFailedPrecondition(`container ${rec.id} is ${rec.state}, not created`);
      }
      const sb = this.d.store.sandboxes.get(rec.sandboxId);
      if (sb.state !== 'ready') throw errFailedPrecondition(`pod sandbox ${sb.id} is not ready`);
      const db = await this.d.containers.get(CRI_NAMESPACE, rec.id);
      const handler = resolveHandler(this.d.config, sb.runtimeHandler);
      const config = ContainerConfig.fromJSON(rec.config);
      const fifo = FifoSet.create(rec.id.slice(0, 12), {
        root: this.fifoRoot,
        stdin: config.stdin,
        terminal: config.tty,
      });
      let writer: CriLogWriter | undefined;
      try {
        if (rec.logPath) {
          writer = new CriLogWriter(rec.logPath, this.d.config.max_container_log_line_size);
          writer.attach(fifo.stdout, 'stdout');
          if (!config.tty) writer.attach(fifo.stderr, 'stderr');
        } else {
          fifo.stdout.resume();
          fifo.stderr.resume();
        }
        const mounts = await this.d.snapshotter.mounts(CRI_NAMESPACE, rec.snapshotKey);
        const { pid } = await this.d.manager.create({
          namespace: CRI_NAMESPACE,
          id: rec.id,
          runtime: db.runtime.name,
          spec: db.spec?.value,
          rootfs: toPbMounts(mounts),
          stdin: fifo.paths.stdin,
          stdout: fifo.paths.stdout,
          stderr: fifo.paths.stderr,
          terminal: fifo.paths.terminal,
          options: this.runtimeOptions(handler.binary_name),
        });
        try {
          const t = this.d.manager.get(CRI_NAMESPACE, rec.id);
          await t.task.start({ id: rec.id, execId: '' }, t.opts());
        } catch (err) {
          await this.deleteTask(rec.id).catch(() => {});
          throw err;
        }
        fifo.detach();
        if (writer) this.logs.set(rec.id, { writer, fifo });
        // Attach clients get the same output (see attach-hubs.ts).
        this.events.emit('stdio', {
          id: rec.id,
          fifo,
          tty: config.tty,
          stdinOnce: config.stdinOnce,
        });
        rec.pid = pid;
        rec.state = 'running';
        rec.startedAt = nowNs();
        await this.d.store.containers.put(rec);
        this.watchExit(rec.id, 'container');
        this.emit('started', rec.id);
      } catch (err) {
        writer?.close();
        await fifo.close(0).catch(() => {});
        rec.state = 'exited';
        rec.reason = 'StartError';
        rec.message = (err as Error).message;
        rec.exitCode = 128;
        rec.finishedAt = nowNs();
        await this.d.store.containers.put(rec);
        throw err;
      }
    });
  }

  async stopContainer(idOrPrefix: string, timeoutS: number): Promise<void> {
    let rec: ContainerRecord;
    try {
      rec = this.d.store.containers.resolve(idOrPrefix);
    } catch (err) {
      if (isNotFound(err)) return; // gone already: stopping is idempotent, as the kubelet expects
      throw err;
    }
    if (rec.state !== 'running') return;
    await this.killTask(rec.id, timeoutS, rec.stopSignal || 'SIGTERM');
    await this.exits.get(rec.id);
  }

  async removeContainer(idOrPrefix: string): Promise<void> {
    let rec: ContainerRecord;
    try {
      rec = this.d.store.containers.resolve(idOrPrefix);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    if (rec.state === 'running') await this.stopContainer(rec.id, 0);
    await this.lock.run(rec.id, async () => {
      await this.deleteTask(rec.id);
      await this.d.snapshotter.remove(CRI_NAMESPACE, rec.snapshotKey).catch((err) => {
        if (!isNotFound(err)) throw err;
      });
      await this.d.containers.delete(CRI_NAMESPACE, rec.id).catch((err) => {
        if (!isNotFound(err)) throw err;
      });
      await this.d.store.containers.delete(rec.id);
      this.names.release(rec.name);
      this.emit('deleted', rec.id, rec.sandboxId); // the record is gone already
    });
  }

  reopenContainerLog(idOrPrefix: string): void {
    const rec = this.d.store.containers.resolve(idOrPrefix);
    if (rec.state !== 'running') throw errFailedPrecondition(`container ${rec.id} is not running`);
    const log = this.logs.get(rec.id);
    if (!log) throw errFailedPrecondition(`container ${rec.id} has no log file`);
    log.writer.reopen();
  }

  /**
   * Replaces the container's CPU, memory, hugepage and unified limits: in the
   * running task through the shim (runc update), and in the stored spec and
   * config so a later start and ContainerStatus see them.
   */
  async updateContainerResources(
    idOrPrefix: string,
    resources: LinuxContainerResources,
  ): Promise<void> {
    const rec = this.d.store.containers.resolve(idOrPrefix);
    await this.lock.run(rec.id, async () => {
      if (rec.state === 'exited' || rec.state === 'unknown') {
        throw errFailedPrecondition(`container ${rec.id} is ${rec.state}; it cannot be updated`);
      }
      const spec = await this.specOf(rec.id);
      const kept = spec.linux?.resources ?? {};
      // Device rules and pids stay; everything the CRI carries is replaced.
      const next: Spec = {
        ...spec,
        linux: {
          ...spec.linux,
          resources: { devices: kept.devices, pids: kept.pids, blockIO: kept.blockIO },
        },
      };
      applyResources(resources, hugepageHandling(this.d.config))(next);
      const res = next.linux!.resources!;
      if (rec.state === 'running') {
        const t = this.d.manager.get(CRI_NAMESPACE, rec.id);
        const { devices: _devices, ...forRunc } = res;
        await t.task.update(
          {
            id: rec.id,
            resources: packJson(OCI_RESOURCES_TYPE_URL, forRunc),
            annotations: {},
          },
          t.opts(),
        );
      }
      await this.d.containers.update(
        CRI_NAMESPACE,
        { id: rec.id, spec: packJson(OCI_SPEC_TYPE_URL, next) },
        ['spec'],
      );
      const config = ContainerConfig.fromJSON(rec.config);
      config.linux = { securityContext: config.linux?.securityContext, resources };
      rec.config = ContainerConfig.toJSON(config);
      await this.d.store.containers.put(rec);
    });
  }

  async execSync(
    idOrPrefix: string,
    cmd: string[],
    timeoutS: number,
  ): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }> {
    const rec = this.d.store.containers.resolve(idOrPrefix);
    if (cmd.length === 0) throw errInvalidArgument('cmd must not be empty');
    if (rec.state !== 'running') throw errFailedPrecondition(`container ${rec.id} is not running`);
    const t = this.d.manager.get(CRI_NAMESPACE, rec.id);
    const spec = await this.specOf(rec.id);
    const execId = `exec-${randomBytes(8).toString('hex')}`;
    const fifo = FifoSet.create(execId, { root: this.fifoRoot });
    const collect = (s: NodeJS.ReadableStream) => {
      const chunks: Buffer[] = [];
      let size = 0;
      s.on('data', (b: Buffer) => {
        if (size >= EXEC_OUTPUT_LIMIT) return;
        const take = b.subarray(0, EXEC_OUTPUT_LIMIT - size);
        chunks.push(take);
        size += take.length;
      });
      return () => Buffer.concat(chunks);
    };
    const out = collect(fifo.stdout);
    const err = collect(fifo.stderr);
    try {
      await t.task.exec(
        {
          id: rec.id,
          execId,
          terminal: false,
          stdin: '',
          stdout: fifo.paths.stdout,
          stderr: fifo.paths.stderr,
          spec: packJson(OCI_PROCESS_TYPE_URL, { ...spec.process, args: cmd, terminal: false }),
        },
        t.opts(),
      );
      const waiting = t.task.wait({ id: rec.id, execId }, t.opts());
      waiting.catch(() => {});
      await t.task.start({ id: rec.id, execId }, t.opts());
      fifo.detach();
      let exitCode: number;
      if (timeoutS > 0) {
        const timer = new Promise<'timeout'>((r) =>
          setTimeout(() => r('timeout'), timeoutS * 1000),
        );
        const r = await Promise.race([waiting, timer]);
        if (r === 'timeout') {
          await t.task
            .kill({ id: rec.id, execId, signal: 9, all: false }, t.opts())
            .catch(() => {});
          await Promise.race([
            waiting.catch(() => {}),
            new Promise((res) => setTimeout(res, 5_000)),
          ]);
          throw errDeadlineExceeded(`command ${JSON.stringify(cmd)} timed out after ${timeoutS}s`);
        }
        exitCode = r.exitStatus;
      } else {
        exitCode = (await waiting).exitStatus;
      }
      await fifo.close(2_000).catch(() => {});
      return { stdout: out(), stderr: err(), exitCode };
    } finally {
      await t.task.delete({ id: rec.id, execId }, t.opts()).catch(() => {});
      await fifo.close(0).catch(() => {});
    }
  }

  // ---------------------------------------------------------------- images

  private async requireImage(ref: string, field: string): Promise<ResolvedImage> {
    const img = await this.d.images.find(ref);
    if (!img) {
      throw errNotFound(
        `${field}: image ${JSON.stringify(ref)} is not present in namespace ${CRI_NAMESPACE}; pull it first`,
      );
    }
    return img;
  }

  /** The sandbox image, pulled first when it is not there (one pull for concurrent pods). */
  private async sandboxImage(): Promise<ResolvedImage> {
    const ref = this.d.config.sandbox_image;
    const have = await this.d.images.find(ref);
    if (have) return have;
    let pulling = this.sandboxPull;
    if (!pulling) {
      pulling = pullImage(this.d.images, ref, { hostsDir: this.d.config.registry_config_path });
      this.sandboxPull = pulling;
      void pulling.then(
        () => (this.sandboxPull = undefined),
        () => (this.sandboxPull = undefined),
      );
    }
    try {
      await pulling;
    } catch (err) {
      throw new BerthError(
        isBerthError(err) ? err.code : 'Unknown',
        `sandbox image ${JSON.stringify(ref)} is not present and cannot be pulled: ${(err as Error).message}`,
      );
    }
    return this.requireImage(ref, 'sandbox image');
  }

  // ---------------------------------------------------------------- recovery

  /**
   * Restores names, live tasks, log writers and exit watchers from the records.
   * What the shims say wins over what was recorded: a running task keeps (or
   * gets back) its pod READY and its container RUNNING, a stopped one gets its
   * real exit, and only a task that is gone is reported lost.
   */
  async recover(): Promise<void> {
    await this.d.store.load();
    const sandboxes = this.d.store.sandboxes.list();
    const containers = this.d.store.containers.list();
    // Every shim asked at once: a slow one must not hold up the others.
    const probes = new Map(
      await Promise.all(
        [...sandboxes, ...containers].map(async (r) => [r.id, await this.probeTask(r.id)] as const),
      ),
    );
    for (const sb of sandboxes) {
      this.names.reserve(sb.name, sb.id);
      await this.recoverSandbox(sb, probes.get(sb.id)!);
    }
    for (const c of containers) {
      this.names.reserve(c.name, c.id);
      await this.recoverContainer(c, probes.get(c.id)!);
    }
  }

  private async recoverSandbox(sb: SandboxRecord, probe: TaskProbe): Promise<void> {
    if (probe.kind === 'unanswered') {
      // Unknown is not lost: the record stands, and the wait reports an exit if one comes.
      this.d.log.warn({ err: probe.err, sandbox: sb.id }, 'pause task did not answer');
      this.watchExit(sb.id, 'sandbox');
      return;
    }
    if (probe.kind === 'task' && probe.state.status === TaskStatus.RUNNING) {
      // The pause it started still runs (an older berthd recorded NOTREADY when it stopped).
      if (sb.state !== 'ready' && sb.pid === probe.state.pid) {
        this.d.log.warn({ sandbox: sb.id }, 'pod sandbox recorded not ready while it runs');
        sb.state = 'ready';
        await this.d.store.sandboxes.put(sb);
      }
      this.watchExit(sb.id, 'sandbox');
    } else if (sb.state === 'ready') {
      sb.state = 'notready';
      await this.d.store.sandboxes.put(sb);
      if (probe.kind === 'task') await this.deleteTask(sb.id).catch(() => {});
    }
  }

  private async recoverContainer(c: ContainerRecord, probe: TaskProbe): Promise<void> {
    const st = probe.kind === 'task' ? probe.state : undefined;
    if (st?.status === TaskStatus.RUNNING) {
      if (c.state !== 'running') {
        // Its process runs (an older berthd recorded exit 255 when it stopped).
        this.d.log.warn({ container: c.id, recorded: c.state }, 'container recorded not running');
        Object.assign(c, { state: 'running', pid: st.pid, exitCode: 0, finishedAt: 0 });
        Object.assign(c, { reason: '', message: '', startedAt: c.startedAt || nowNs() });
        await this.d.store.containers.put(c);
      }
      if (st.stdout) {
        try {
          this.reattachStdio(c, st);
        } catch (err) {
          this.d.log.warn({ err, container: c.id }, 'container stdio cannot be reattached');
        }
      }
      this.watchExit(c.id, 'container');
      return;
    }
    if (c.state !== 'running') return;
    if (probe.kind === 'unanswered') {
      this.d.log.warn(
        { err: probe.err, container: c.id },
        'container task did not answer: kept running, its output not logged',
      );
      this.watchExit(c.id, 'container');
    } else if (st) {
      const at = (fromTimestamp(st.exitedAt)?.getTime() ?? Date.now()) * 1e6;
      await this.onExit(c.id, 'container', st.exitStatus, at);
    } else {
      c.state = 'exited';
      c.exitCode = 255;
      c.reason = 'Unknown';
      c.message = 'the container task was lost while berthd was down';
      c.finishedAt = c.finishedAt || nowNs();
      await this.d.store.containers.put(c);
    }
  }

  /**
   * A running container's recorded FIFOs, opened again after a restart: the log
   * continues, and attach works as before, stdin included while the shim still
   * reads it (after a stdin_once close nobody does, and it stays closed).
   */
  private reattachStdio(
    c: ContainerRecord,
    st: { stdin: string; stdout: string; stderr: string; terminal: boolean },
  ): void {
    const config = ContainerConfig.fromJSON(c.config);
    const fifo = FifoSet.attach({
      stdin: config.stdin && st.stdin && fifoHasReader(st.stdin) ? st.stdin : '',
      stdout: st.stdout,
      stderr: st.stderr,
      terminal: st.terminal,
    });
    if (c.logPath) {
      const writer = new CriLogWriter(c.logPath, this.d.config.max_container_log_line_size);
      writer.attach(fifo.stdout, 'stdout');
      if (st.stderr) writer.attach(fifo.stderr, 'stderr');
      this.logs.set(c.id, { writer, fifo });
    } else {
      fifo.stdout.resume();
      fifo.stderr.resume();
    }
    fifo.detach();
    this.events.emit('stdio', {
      id: c.id,
      fifo,
      tty: st.terminal,
      stdinOnce: config.stdinOnce,
    });
  }

  /** The task's state from its shim, asked patiently: a slow shim is not a dead one. */
  private async probeTask(id: string): Promise<TaskProbe> {
    const t = this.d.manager.find(CRI_NAMESPACE, id);
    if (!t) return { kind: 'none' };
    try {
      const state = await withGrowingDeadline(STATE_TIMEOUT_MS, (timeoutMs) =>
        t.task.state({ id, execId: '' }, t.opts({ timeoutMs })),
      );
      return { kind: 'task', state };
    } catch (err) {
      return { kind: 'unanswered', err };
    }
  }
}

/** `SIGTERM`, `TERM` or `15` → 15; unknown names fall back to SIGTERM. */
export function signalNumber(s: string): number {
  return signalByName(s) ?? 15;
}

/**
 * Whether some process has `file` (a FIFO) open for reading: opening it
 * write-only without blocking fails with ENXIO when nobody does.
 */
function fifoHasReader(file: string): boolean {
  try {
    fsSync.closeSync(
      fsSync.openSync(file, fsSync.constants.O_WRONLY | fsSync.constants.O_NONBLOCK),
    );
    return true;
  } catch {
    return false;
  }
}
