// The runtime v2 task manager: one shim per task (or per group), started with
// the shim binary's `start` (core/runtime/shim-launcher.ts), driven through
// the Task interface, cleaned up with `delete` when it dies. It owns the
// bundles under its state directory and the live shim connections; the Tasks
// service and the CRI are clients of it (TaskRuntime).

import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { BerthError, errAlreadyExists, errNotFound } from '../../core/errors/catalogue.js';
import { TaskDelete, TaskExit } from '../../api/gen/containerd/events/task.js';
import { validateIdentifier } from '../../core/identifiers.js';
import { nowTimestamp } from '../../core/protobuf/timestamp.js';
import { packAny } from '../../core/protobuf/typeurl.js';
import { traceStep } from '../../core/tracing/active-span.js';
import type { Publisher } from '../daemon/publisher.js';
import {
  type ShimCommand,
  commandFor,
  isBerthShim,
  resolveShim,
} from '../../core/runtime/binary.js';
import { Bundle, type BundleDirs } from '../../core/runtime/bundle.js';
import type { TaskRuntimeConfig } from './config.js';
import { type ShimLogReader, openShimLog } from '../../core/runtime/shim-log.js';
import type { ShimInvocation } from '../../core/runtime/shim-process.js';
import { type ShimLauncher, ShimProcesses } from '../../core/runtime/shim-launcher.js';
import type {
  CreateTaskOptions,
  ExitInfo,
  ShimTaskClient,
  TaskRuntime,
} from '../../core/runtime/task.js';
import { withGrowingDeadline } from '../../core/runtime/growing-deadline.js';
import { takesRuncOptions, withRuncRoot } from '../../core/runtime/runc-root.js';
import { ShimTask, taskKey } from './shim.js';

/** Exit status reported for a task whose shim vanished: killed by SIGKILL. */
export const DEAD_SHIM_EXIT_STATUS = 128 + 9;

export interface TaskManagerOptions {
  dirs: BundleDirs;
  config: TaskRuntimeConfig;
  /** The daemon's gRPC and ttrpc sockets, handed to shims. */
  address: string;
  ttrpcAddress: string;
  /** What shims get as -publish-binary. */
  publishBinary: string;
  /** Where Berth's shims put their sockets (under the daemon's state directory). */
  socketDir: string;
  /** runc's state root for tasks whose create options name none (under the daemon's state). */
  runcRoot: string;
  publisher: Publisher;
  log: Logger;
  /** Overrides the shim lookup (tests). */
  resolve?: (runtime: string) => ShimCommand;
  /** How shims are started and reached; shim processes unless given (tests). */
  launcher?: ShimLauncher;
}

export class TaskManager implements TaskRuntime {
  private readonly tasks = new Map<string, ShimTask>();
  /** Keys with a create or delete in progress: a second create is refused, not queued. */
  private readonly busy = new Set<string>();
  /** Deletes in progress: a second delete of the task waits for the first and shares its answer. */
  private readonly deleting = new Map<string, Promise<ExitInfo>>();
  private closed = false;
  private readonly launcher: ShimLauncher;

  constructor(private readonly o: TaskManagerOptions) {
    this.launcher =
      o.launcher ??
      new ShimProcesses({
        inline: o.config.shim_inline_start,
        spares: o.config.shim_spares,
        spareArgs: ['-address', o.address, '-publish-binary', o.publishBinary],
        startTimeoutMs: o.config.shim_start_timeout_ms,
        deleteTimeoutMs: o.config.shim_delete_timeout_ms,
        shutdownTimeoutMs: o.config.shim_shutdown_timeout_ms,
        onError: (msg) => o.log.warn(msg),
      });
  }

  get(namespace: string, id: string): ShimTask {
    const t = this.tasks.get(taskKey(namespace, id));
    if (!t) throw errNotFound(`task ${id}`);
    return t;
  }

  find(namespace: string, id: string): ShimTask | undefined {
    return this.tasks.get(taskKey(namespace, id));
  }

  list(namespace: string): ShimTask[] {
    return [...this.tasks.values()]
      .filter((t) => t.namespace === namespace)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  all(): ShimTask[] {
    return [...this.tasks.values()];
  }

  private command(runtime: string, runtimePath?: string): ShimCommand {
    if (runtimePath) {
      if (!path.isAbsolute(runtimePath)) {
        throw new BerthError('InvalidArgument', `runtime path ${runtimePath} must be absolute`);
      }
      return commandFor(runtimePath);
    }
    return (this.o.resolve ?? resolveShim)(runtime || this.o.config.default_runtime);
  }

  private invocation(bundle: Bundle, command: ShimCommand): ShimInvocation {
    return {
      command,
      namespace: bundle.namespace,
      id: bundle.id,
      bundlePath: bundle.path,
      address: this.o.address,
      ttrpcAddress: this.o.ttrpcAddress,
      publishBinary: this.o.publishBinary,
      socketDir: this.o.socketDir,
      debug: this.o.config.shim_debug,
    };
  }

  private claim(key: string): () => void {
    if (this.busy.has(key) || this.tasks.has(key)) throw errAlreadyExists(`task ${key}`);
    this.busy.add(key);
    return () => this.busy.delete(key);
  }

  /** Starts a shim for the task and creates the task in it; returns the task and its pid. */
  async create(c: CreateTaskOptions): Promise<{ task: ShimTask; pid: number }> {
    if (this.closed) throw new BerthError('Unavailable', 'task manager is shutting down');
    validateIdentifier(c.namespace);
    validateIdentifier(c.id);
    const key = taskKey(c.namespace, c.id);
    const release = this.claim(key);
    try {
      const command = this.command(c.runtime, c.runtimePath);
      const bundle = await traceStep('bundle create', () =>
        Bundle.create(this.o.dirs, c.namespace, c.id, c.spec),
      );
      let logReader: ShimLogReader | undefined;
      let client: ShimTaskClient | undefined;
      let started = false;
      try {
        await bundle.writeShimBinaryPath(command.path);
        // The reader must exist before the shim opens the FIFO write-only.
        logReader = openShimLog(bundle.logFifo, this.o.log.child({ task: key }));
        const addr = await traceStep('shim start', () =>
          this.launcher.start(this.invocation(bundle, command), {
            runtimeOptions: c.runtimeOptions,
            spec: c.spec,
          }),
        );
        started = true;
        await bundle.writeAddress(addr.address);
        client = await traceStep('shim connect', () =>
          this.launcher.connect(
            addr.address,
            c.namespace,
            c.id,
            this.o.config.shim_dial_timeout_ms,
          ),
        );
        const pid = await client.create({
          bundle: bundle.path,
          rootfs: c.rootfs,
          terminal: c.terminal,
          stdin: c.stdin,
          stdout: c.stdout,
          stderr: c.stderr,
          options: takesRuncOptions(c.runtime, isBerthShim(command))
            ? withRuncRoot(c.options, this.o.runcRoot)
            : c.options,
        });
        return { task: this.adopt(bundle, command, client, logReader), pid };
      } catch (err) {
        logReader?.close();
        await this.abandon(bundle, command, client, started);
        throw err;
      }
    } finally {
      release();
    }
  }

  /** A connected task becomes one of the manager's: listed, and watched for its shim's death. */
  private adopt(
    bundle: Bundle,
    command: ShimCommand,
    client: ShimTaskClient,
    logReader: ShimLogReader | undefined,
  ): ShimTask {
    const shim = new ShimTask({
      bundle,
      command,
      client,
      logReader,
      remove: (t) => this.delete(t.namespace, t.id),
    });
    this.watch(shim);
    this.tasks.set(shim.key, shim);
    return shim;
  }

  /** Undo a create that failed part way: stop the shim, let it clean up, drop the bundle. */
  private async abandon(
    bundle: Bundle,
    command: ShimCommand,
    client: ShimTaskClient | undefined,
    started: boolean,
  ): Promise<void> {
    if (client) {
      // Not `now`: a shim serving other containers of the group (a pod) must stay.
      await client.shutdown().catch(() => {});
      client.close();
    }
    if (started) {
      await this.launcher
        .delete(this.invocation(bundle, command))
        .catch((err) =>
          this.o.log.warn({ err, task: bundle.id }, 'shim delete after a failed create'),
        );
    }
    await bundle
      .delete()
      .catch((err) =>
        this.o.log.warn({ err, bundle: bundle.path }, 'removing the bundle of a failed create'),
      );
  }

  /** A closed connection we did not ask for means the shim died. */
  private watch(shim: ShimTask): void {
    shim.client.onClose(() => {
      if (shim.expectedClose || this.closed) {
        shim.settleDeath(undefined);
        return;
      }
      void this.handleDeath(shim);
    });
  }

  private async handleDeath(shim: ShimTask): Promise<void> {
    if (!shim.claimDeath()) return;
    this.o.log.warn({ task: shim.key }, 'shim connection lost; cleaning up after the shim');
    shim.disconnect();
    const exit = await this.cleanupDeadShim(shim.bundle, shim.command.path);
    if (this.tasks.get(shim.key) === shim) this.tasks.delete(shim.key);
    shim.settleDeath(exit);
  }

  /**
   * `shim delete` (runc delete --force, unmount), the bundle removed, and the
   * exit and delete events the shim can no longer send.
   */
  private async cleanupDeadShim(bundle: Bundle, shimPath: string | undefined): Promise<ExitInfo> {
    let exit: ExitInfo = {
      pid: 0,
      exitStatus: DEAD_SHIM_EXIT_STATUS,
      exitedAt: nowTimestamp(),
    };
    if (shimPath) {
      try {
        const r = await this.launcher.delete(this.invocation(bundle, commandFor(shimPath)));
        if (r.stderr.trim())
          this.o.log.debug({ task: bundle.id, stderr: r.stderr.trim() }, 'shim delete');
        exit = {
          pid: r.response.pid,
          exitStatus: r.response.exitStatus || DEAD_SHIM_EXIT_STATUS,
          exitedAt: r.response.exitedAt ?? exit.exitedAt,
        };
      } catch (err) {
        this.o.log.warn({ err, task: bundle.id }, 'shim delete failed');
      }
    }
    await bundle
      .delete()
      .catch((err) =>
        this.o.log.warn({ err, bundle: bundle.path }, 'removing the bundle of a dead shim'),
      );
    const { namespace, id } = bundle;
    this.o.publisher.publish(
      namespace,
      '/tasks/exit',
      packAny('containerd.events.TaskExit', TaskExit, {
        containerId: id,
        id,
        pid: exit.pid,
        exitStatus: exit.exitStatus,
        exitedAt: exit.exitedAt,
      }),
    );
    this.o.publisher.publish(
      namespace,
      '/tasks/delete',
      packAny('containerd.events.TaskDelete', TaskDelete, {
        containerId: id,
        id,
        pid: exit.pid,
        exitStatus: exit.exitStatus,
        exitedAt: exit.exitedAt,
      }),
    );
    return exit;
  }

  /**
   * Deletes a stopped task: the shim's Delete, its Shutdown, then the bundle.
   * Two callers may race to delete one task (a CRI exit watcher and
   * RemoveContainer): the second gets the first one's outcome.
   */
  async delete(namespace: string, id: string): Promise<ExitInfo> {
    const key = taskKey(namespace, id);
    const inFlight = this.deleting.get(key);
    if (inFlight) return inFlight;
    const shim = this.get(namespace, id);
    if (this.busy.has(key))
      throw new BerthError('FailedPrecondition', `task ${id} is being created`);
    const p = this.deleteNow(shim).finally(() => this.deleting.delete(key));
    this.deleting.set(key, p);
    return p;
  }

  private async deleteNow(shim: ShimTask): Promise<ExitInfo> {
    const key = shim.key;
    this.busy.add(key);
    try {
      const res = await shim.client.delete();
      shim.expectedClose = true;
      // A shim serving other tasks of its group ignores Shutdown; ours closes.
      await shim.client.shutdown().catch(() => {});
      shim.disconnect();
      this.tasks.delete(key);
      await traceStep('bundle delete', () => shim.bundle.delete());
      return res;
    } catch (err) {
      // The shim went away under us: its death handler reports and cleans up.
      if (shim.client.closed) {
        const exit = await shim.deathExit();
        if (exit) return exit;
      }
      throw err;
    } finally {
      this.busy.delete(key);
    }
  }

  /**
   * Reconnects to the shims of bundles left by a previous daemon, all in
   * parallel; a shim that misses its deadline is asked again with a longer one
   * (slow is not dead), a shim that is gone is cleaned up and its task
   * reported exited. `keep` says whether a task still has its container.
   */
  async recover(keep: (namespace: string, id: string) => Promise<boolean>): Promise<{
    reconnected: number;
    cleaned: number;
  }> {
    const bundles = await this.scanBundles();
    let reconnected = 0;
    let cleaned = 0;
    await Promise.all(
      bundles.map(async (bundle) => {
        const shimPath = await bundle.readShimBinaryPath().catch(() => undefined);
        try {
          if (!(await keep(bundle.namespace, bundle.id))) {
            throw new BerthError('NotFound', 'container record is gone');
          }
          await this.reconnect(bundle, shimPath);
          reconnected++;
        } catch (err) {
          this.o.log.info(
            { task: taskKey(bundle.namespace, bundle.id), reason: (err as Error).message },
            'shim not reconnected; cleaning up',
          );
          await this.stopLiveShim(bundle);
          await this.cleanupDeadShim(bundle, shimPath);
          cleaned++;
        }
      }),
    );
    await this.removeOrphanWorkDirs();
    return { reconnected, cleaned };
  }

  /**
   * A shim can still be alive when its container record is gone: kill its
   * processes and ask it to exit before `shim delete` cleans up. Best effort.
   */
  private async stopLiveShim(bundle: Bundle): Promise<void> {
    const address = await bundle.readAddress().catch(() => undefined);
    if (!address) return;
    const timeoutMs = this.o.config.shim_reconnect_timeout_ms;
    let client: ShimTaskClient;
    try {
      client = await this.launcher.connect(address, bundle.namespace, bundle.id, timeoutMs);
    } catch {
      return;
    }
    try {
      await client.kill(9, { all: true, timeoutMs });
      await client.wait({ timeoutMs: 5_000 });
      await client.delete({ timeoutMs });
    } catch {
      // Whatever is left, `shim delete` forces.
    }
    // Not `now`: the shim may serve other containers of its group.
    await client.shutdown({ timeoutMs }).catch(() => {});
    client.close();
  }

  private async reconnect(bundle: Bundle, shimPath: string | undefined): Promise<void> {
    const address = await bundle.readAddress();
    if (!address) throw new BerthError('NotFound', 'bundle has no shim address');
    if (!shimPath) throw new BerthError('NotFound', 'bundle has no shim binary path');
    const task = taskKey(bundle.namespace, bundle.id);
    const { client, logReader } = await withGrowingDeadline(
      this.o.config.shim_reconnect_timeout_ms,
      (timeoutMs) => this.connectShim(bundle, address, timeoutMs),
      (timeoutMs) =>
        this.o.log.warn({ task, timeoutMs }, 'shim did not answer in time; trying a longer limit'),
    );
    this.adopt(bundle, commandFor(shimPath), client, logReader);
  }

  /** One dial and Connect to a running shim, within `timeoutMs` each. */
  private async connectShim(
    bundle: Bundle,
    address: string,
    timeoutMs: number,
  ): Promise<{ client: ShimTaskClient; logReader: ShimLogReader }> {
    const client = await this.launcher.connect(address, bundle.namespace, bundle.id, timeoutMs);
    let logReader: ShimLogReader | undefined;
    let taskPid: number;
    try {
      await bundle.ensureLogFifo();
      logReader = openShimLog(
        bundle.logFifo,
        this.o.log.child({ task: taskKey(bundle.namespace, bundle.id) }),
      );
      ({ taskPid } = await client.connect({ timeoutMs }));
    } catch (err) {
      client.close();
      logReader?.close();
      throw err;
    }
    if (taskPid === 0) {
      // The shim started but the task was never created in it: the daemon
      // died between the two. Nobody was told of a task, so it is cleaned up,
      // not adopted as one that `tasks ls` could never show.
      client.close();
      logReader.close();
      throw new BerthError('NotFound', 'the shim has no task: it was never created');
    }
    return { client, logReader };
  }

  private async scanBundles(): Promise<Bundle[]> {
    const out: Bundle[] = [];
    for (const ns of await readdirSafe(this.o.dirs.state)) {
      if (!isIdentifier(ns)) continue;
      for (const id of await readdirSafe(path.join(this.o.dirs.state, ns))) {
        if (isIdentifier(id)) out.push(new Bundle(this.o.dirs, ns, id));
      }
    }
    return out;
  }

  /** Work directories (persistent) whose bundle (volatile) is gone, e.g. after a reboot. */
  private async removeOrphanWorkDirs(): Promise<void> {
    for (const ns of await readdirSafe(this.o.dirs.root)) {
      if (!isIdentifier(ns)) continue;
      for (const id of await readdirSafe(path.join(this.o.dirs.root, ns))) {
        if (!isIdentifier(id) || this.tasks.has(taskKey(ns, id))) continue;
        const bundleDir = path.join(this.o.dirs.state, ns, id);
        if (await exists(bundleDir)) continue;
        await fs.rm(path.join(this.o.dirs.root, ns, id), { recursive: true, force: true });
      }
    }
  }

  /** Drops every shim connection; shims and containers keep running. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.tasks.values()) t.disconnect();
    this.tasks.clear();
    await this.launcher.close();
  }
}

function isIdentifier(s: string): boolean {
  try {
    validateIdentifier(s);
    return true;
  } catch {
    return false;
  }
}

async function readdirSafe(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}
