// containerd.task.v2.Task: the shim's one ttrpc service. Containers grouped
// into this shim are keyed by id; each call finds its container and process
// and lets the process state machine decide whether the call is valid now.

import { constants as osConstants } from 'node:os';
import path from 'node:path';
import {
  errAlreadyExists,
  errFailedPrecondition,
  errInvalidArgument,
  errNotFound,
  errNotImplemented,
} from '../core/errors/catalogue.js';
import * as events from '../api/gen/containerd/events/task.js';
import { CheckpointOptions, ProcessDetails } from '../api/gen/containerd/runc/v1/oci.js';
import type {
  CheckpointTaskRequest,
  ConnectResponse,
  CreateTaskRequest,
  DeleteResponse,
  StateResponse,
  TaskDefinition,
} from '../api/gen/containerd/task/v2/shim.js';
import type { Any } from '../api/gen/google/protobuf/any.js';
import { validateIdentifier } from '../core/identifiers.js';
import { toTimestamp } from '../core/protobuf/timestamp.js';
import { packAny, unpackAny, unpackJson } from '../core/protobuf/typeurl.js';
import type { ServiceImplementation } from '../core/ttrpc/server.js';
import { type ProcessExit, setWinsize } from '../native/index.js';
import { Container } from './container.js';
import type { Publisher } from './events.js';
import { mountAll, unmountAll } from '../core/mount/index.js';
import { traceStep } from '../core/tracing/active-span.js';
import { optionsFromAny, runcBinary, runcRoot, writeOptions } from './options.js';
import { ExecProcess } from './process/exec.js';
import { InitProcess } from './process/init.js';
import type { Process, ReapedExit } from './process/process.js';
import { toProtoStatus } from './process/state.js';
import { Runc } from './runc.js';
import { collectStats } from './stats.js';

type Empty = Record<string, never>;
const EMPTY: Empty = {};

export const CHECKPOINT_OPTIONS = 'containerd.runc.v1.CheckpointOptions';

/** How long an exit waits for the process's output to reach the client. */
const OUTPUT_DRAIN_MS = 2000;

export interface ExitSource {
  lastExit(pid: number): ProcessExit | undefined;
  forget(pid: number): void;
}

export interface TaskServiceOptions {
  namespace: string;
  publisher: Publisher;
  reaper: ExitSource;
  version: string;
  /** Called when Shutdown decides the shim should exit (after the reply is sent). */
  onShutdown: () => void;
  log?: (msg: string) => void;
}

function pack<T>(name: string, fns: { encode(m: T): { finish(): Uint8Array } }, msg: T): Any {
  return packAny(`containerd.events.${name}`, fns as never, msg);
}

export class TaskService {
  readonly containers = new Map<string, Container>();
  /** Live pids we reap for, to the process they belong to. */
  private readonly tracked = new Map<number, Process>();
  private shuttingDown = false;

  constructor(private readonly opts: TaskServiceOptions) {}

  private publish(topic: string, any: Any): void {
    this.opts.publisher.publish(topic, any);
  }

  private container(id: string): Container {
    const c = this.containers.get(id);
    if (!c) throw errNotFound(`task ${id}`);
    return c;
  }

  /** The Reaper's 'exit' listener. */
  onReaped(exit: ProcessExit): void {
    const proc = this.tracked.get(exit.pid);
    if (!proc) return; // runc's own short-lived children, or a pid not yet claimed
    this.tracked.delete(exit.pid);
    this.opts.reaper.forget(exit.pid);
    proc.reaped({ pid: exit.pid, exitCode: exit.exitCode, exitedAt: exit.exitedAt });
  }

  /** Starts tracking a pid; picks up an exit reaped before we knew the pid. */
  private claim(proc: Process): void {
    this.tracked.set(proc.pid, proc);
    const seen = this.opts.reaper.lastExit(proc.pid);
    if (seen && seen.exitedAt.getTime() >= proc.launchedAt) this.onReaped(seen);
  }

  private readonly processExited = (proc: Process, exit: ReapedExit): void => {
    void this.finishExit(proc, exit);
  };

  private async finishExit(proc: Process, exit: ReapedExit): Promise<void> {
    const container = this.containers.get(proc.containerId);
    if (proc.isInit && container) {
      // Init is gone: nothing else in the container may outlive it.
      for (const e of container.runningExecs()) {
        try {
          process.kill(e.pid, osConstants.signals.SIGKILL);
        } catch {
          /* already gone */
        }
      }
    }
    const t0 = Date.now();
    await proc.io?.drained(OUTPUT_DRAIN_MS);
    this.opts.log?.(
      `${proc.describe()} exited with ${exit.exitCode}; output drained in ${Date.now() - t0} ms`,
    );
    proc.setExited(exit.exitCode, exit.exitedAt);
    this.publish(
      '/tasks/exit',
      pack('TaskExit', events.TaskExit, {
        containerId: proc.containerId,
        id: proc.id,
        pid: exit.pid,
        exitStatus: exit.exitCode,
        exitedAt: toTimestamp(exit.exitedAt),
      }),
    );
  }

  // ---- RPCs ---------------------------------------------------------------

  async create(req: CreateTaskRequest): Promise<{ pid: number }> {
    validateIdentifier(req.id);
    if (this.shuttingDown) throw errFailedPrecondition('shim is shutting down');
    if (this.containers.has(req.id)) throw errAlreadyExists(`task ${req.id}`);
    if (req.checkpoint) throw errNotImplemented('checkpoint is not supported by berth-shim');
    if (!req.bundle || !path.isAbsolute(req.bundle))
      throw errInvalidArgument('bundle must be an absolute path');

    const options = optionsFromAny(req.options);
    await writeOptions(req.bundle, options);
    const runc = new Runc({
      binary: runcBinary(options),
      root: runcRoot(options, this.opts.namespace),
      log: path.join(req.bundle, 'log.json'),
      systemdCgroup: options.systemdCgroup,
    });

    const rootfs = path.join(req.bundle, 'rootfs');
    const mounted = req.rootfs.length > 0;
    if (mounted) traceStep('rootfs mount', () => mountAll(req.rootfs, rootfs));

    const init = new InitProcess({
      id: req.id,
      bundle: req.bundle,
      runc,
      stdio: { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal },
      noPivot: options.noPivotRoot,
      noNewKeyring: options.noNewKeyring,
      onExit: this.processExited,
    });
    // Reserve the id while runc works, so a concurrent Create of the same id fails.
    const container = new Container(req.id, req.bundle, init, mounted);
    this.containers.set(req.id, container);
    try {
      await init.create();
    } catch (err) {
      this.containers.delete(req.id);
      await runc.delete(req.id, true).catch(() => {});
      if (mounted) unmountAll(rootfs);
      throw err;
    }

    this.publish(
      '/tasks/create',
      pack('TaskCreate', events.TaskCreate, {
        containerId: req.id,
        bundle: req.bundle,
        rootfs: req.rootfs,
        io: { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal },
        checkpoint: req.checkpoint,
        pid: init.pid,
      }),
    );
    this.claim(init);
    return { pid: init.pid };
  }

  async start(req: { id: string; execId: string }): Promise<{ pid: number }> {
    const container = this.container(req.id);
    const proc = container.process(req.execId);

    if (proc instanceof InitProcess) {
      proc.beginStart();
      try {
        await proc.start();
      } catch (err) {
        proc.abortStart();
        throw err;
      }
      if (proc.state.is('created')) proc.state.transition('running');
      this.publish(
        '/tasks/start',
        pack('TaskStart', events.TaskStart, { containerId: req.id, pid: proc.pid }),
      );
      proc.endStart();
      return { pid: proc.pid };
    }

    const exec = proc as ExecProcess;
    container.init.state.require('start an exec in', 'running');
    exec.beginStart();
    try {
      await exec.start();
    } catch (err) {
      exec.abortStart();
      throw err;
    }
    this.claim(exec); // an exit seen already is held until endStart()
    exec.state.transition('running');
    this.publish(
      '/tasks/exec-started',
      pack('TaskExecStarted', events.TaskExecStarted, {
        containerId: req.id,
        execId: req.execId,
        pid: exec.pid,
      }),
    );
    exec.endStart();
    return { pid: exec.pid };
  }

  async delete(req: { id: string; execId: string }): Promise<DeleteResponse> {
    const container = this.container(req.id);
    const proc = container.process(req.execId);
    const response = (): DeleteResponse => ({
      pid: proc.pid,
      exitStatus: proc.exit?.status ?? 0,
      exitedAt: proc.exit ? toTimestamp(proc.exit.at) : undefined,
    });

    if (proc instanceof ExecProcess) {
      proc.delete();
      container.execs.delete(proc.id);
      return response();
    }

    const init = proc as InitProcess;
    await init.delete();
    for (const e of container.execs.values()) e.io?.close();
    if (container.rootfsMounted) {
      traceStep('rootfs unmount', () => unmountAll(path.join(container.bundle, 'rootfs')));
    }
    this.containers.delete(req.id);
    const res = response();
    this.publish(
      '/tasks/delete',
      pack('TaskDelete', events.TaskDelete, {
        containerId: req.id,
        pid: res.pid,
        exitStatus: res.exitStatus,
        exitedAt: res.exitedAt,
        id: '',
      }),
    );
    return res;
  }

  async state(req: { id: string; execId: string }): Promise<StateResponse> {
    const container = this.container(req.id);
    const proc = container.process(req.execId);
    return {
      id: proc.id,
      bundle: container.bundle,
      pid: proc.pid,
      status: toProtoStatus(proc.state.current),
      stdin: proc.stdio.stdin,
      stdout: proc.stdio.stdout,
      stderr: proc.stdio.stderr,
      terminal: proc.stdio.terminal,
      exitStatus: proc.exit?.status ?? 0,
      exitedAt: proc.exit ? toTimestamp(proc.exit.at) : undefined,
      execId: req.execId,
    };
  }

  async kill(req: { id: string; execId: string; signal: number; all: boolean }): Promise<Empty> {
    const container = this.container(req.id);
    const proc = container.process(req.execId);
    if (proc instanceof ExecProcess) {
      proc.kill(req.signal);
      return EMPTY;
    }
    if (proc.exit) throw errNotFound(`${proc.describe()}: process already finished`);
    await (proc as InitProcess).kill(req.signal, req.all);
    return EMPTY;
  }

  async exec(req: {
    id: string;
    execId: string;
    terminal: boolean;
    stdin: string;
    stdout: string;
    stderr: string;
    spec: Any | undefined;
  }): Promise<Empty> {
    const container = this.container(req.id);
    validateIdentifier(req.execId);
    if (container.execs.has(req.execId)) throw errAlreadyExists(`exec process ${req.execId}`);
    container.init.state.require('exec in', 'created', 'running', 'paused');
    const spec = unpackJson<unknown>(req.spec);
    if (!spec) throw errInvalidArgument('exec: process spec is required');
    const exec = new ExecProcess({
      execId: req.execId,
      containerId: req.id,
      bundle: container.bundle,
      runc: container.init.runc,
      stdio: { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal },
      spec,
      onExit: this.processExited,
    });
    container.execs.set(req.execId, exec);
    this.publish(
      '/tasks/exec-added',
      pack('TaskExecAdded', events.TaskExecAdded, { containerId: req.id, execId: req.execId }),
    );
    return EMPTY;
  }

  async pids(req: {
    id: string;
  }): Promise<{ processes: { pid: number; info: Any | undefined }[] }> {
    const container = this.container(req.id);
    const pids = await container.init.runc.ps(req.id);
    const byPid = new Map<number, ExecProcess>();
    for (const e of container.execs.values()) if (e.pid) byPid.set(e.pid, e);
    return {
      processes: pids.map((pid) => {
        const exec = byPid.get(pid);
        return {
          pid,
          info: exec
            ? packAny('containerd.runc.v1.ProcessDetails', ProcessDetails, { execId: exec.id })
            : undefined,
        };
      }),
    };
  }

  async pause(req: { id: string }): Promise<Empty> {
    const container = this.container(req.id);
    await container.init.pause();
    this.publish('/tasks/paused', pack('TaskPaused', events.TaskPaused, { containerId: req.id }));
    return EMPTY;
  }

  async resume(req: { id: string }): Promise<Empty> {
    const container = this.container(req.id);
    await container.init.resume();
    this.publish(
      '/tasks/resumed',
      pack('TaskResumed', events.TaskResumed, { containerId: req.id }),
    );
    return EMPTY;
  }

  /**
   * `runc checkpoint` of a running container into `path` (or the options'
   * image path). The options are containerd's runc CheckpointOptions; without
   * `exit` the container keeps running, as CRI checkpoints need.
   */
  async checkpoint(req: CheckpointTaskRequest): Promise<Empty> {
    const container = this.container(req.id);
    container.init.state.require('checkpoint', 'running');
    const o = unpackAny(req.options, CHECKPOINT_OPTIONS, CheckpointOptions);
    if (req.options && !o) {
      throw errInvalidArgument(`checkpoint options must be ${CHECKPOINT_OPTIONS}`);
    }
    const imagePath = o?.imagePath || req.path;
    if (!imagePath || !path.isAbsolute(imagePath)) {
      throw errInvalidArgument('checkpoint: an absolute image path is required');
    }
    await container.init.runc.checkpoint(req.id, {
      imagePath,
      workPath: o?.workPath,
      leaveRunning: !o?.exit,
      tcpEstablished: o?.openTcp,
      extUnixSockets: o?.externalUnixSockets,
      shellJob: container.init.stdio.terminal || o?.terminal,
      fileLocks: o?.fileLocks,
      emptyNamespaces: o?.emptyNamespaces,
      cgroupsMode: o?.cgroupsMode,
    });
    this.publish(
      '/tasks/checkpointed',
      pack('TaskCheckpointed', events.TaskCheckpointed, {
        containerId: req.id,
        checkpoint: imagePath,
      }),
    );
    return EMPTY;
  }

  async resizePty(req: {
    id: string;
    execId: string;
    width: number;
    height: number;
  }): Promise<Empty> {
    const proc = this.container(req.id).process(req.execId);
    const fd = proc.io?.consoleFd;
    if (!proc.stdio.terminal || fd === undefined) return EMPTY; // nothing to resize, as the reference shim treats it
    setWinsize(fd, req.height, req.width);
    return EMPTY;
  }

  async closeIO(req: { id: string; execId: string; stdin: boolean }): Promise<Empty> {
    const proc = this.container(req.id).process(req.execId);
    if (req.stdin) proc.io?.closeStdin();
    return EMPTY;
  }

  async update(req: { id: string; resources: Any | undefined }): Promise<Empty> {
    const container = this.container(req.id);
    const resources = unpackJson<unknown>(req.resources);
    if (!resources) throw errInvalidArgument('update: resources are required');
    await container.init.update(resources);
    return EMPTY;
  }

  async wait(req: { id: string; execId: string }, ctx?: { signal?: AbortSignal }) {
    const proc = this.container(req.id).process(req.execId);
    const exit = await proc.wait(ctx?.signal);
    return { exitStatus: exit.status, exitedAt: toTimestamp(exit.at) };
  }

  async stats(req: { id: string }): Promise<{ stats: Any | undefined }> {
    const container = this.container(req.id);
    const init = container.init;
    if (!init.pid || init.exit) throw errNotFound(`task ${req.id} is not running`);
    return { stats: await collectStats(init.pid) };
  }

  async connect(req: { id: string }): Promise<ConnectResponse> {
    const c = this.containers.get(req.id);
    return { shimPid: process.pid, taskPid: c?.init.pid ?? 0, version: this.opts.version };
  }

  async shutdown(req: { id: string; now: boolean }): Promise<Empty> {
    if (this.containers.size > 0 && !req.now) return EMPTY;
    this.shuttingDown = true;
    // After this reply has been written.
    setImmediate(this.opts.onShutdown);
    return EMPTY;
  }
}

/** The service as the ttrpc server registers it. */
export function taskServiceImplementation(svc: TaskService): ServiceImplementation<TaskDefinition> {
  return {
    state: (r) => svc.state(r),
    create: (r) => svc.create(r),
    start: (r) => svc.start(r),
    delete: (r) => svc.delete(r),
    pids: (r) => svc.pids(r),
    pause: (r) => svc.pause(r),
    resume: (r) => svc.resume(r),
    checkpoint: (r) => svc.checkpoint(r),
    kill: (r) => svc.kill(r),
    exec: (r) => svc.exec(r),
    resizePty: (r) => svc.resizePty(r),
    closeIO: (r) => svc.closeIO(r),
    update: (r) => svc.update(r),
    wait: (r, ctx) => svc.wait(r, ctx),
    stats: (r) => svc.stats(r),
    connect: (r) => svc.connect(r),
    shutdown: (r) => svc.shutdown(r),
  };
}
