// containerd.services.tasks.v1.Tasks as a local service: requests come in with
// the caller's namespace, most are forwarded to the task (core/runtime Task).

import {
  errFailedPrecondition,
  errInvalidArgument,
  errNotImplemented,
} from '../../core/errors/catalogue.js';
import type {
  CloseIORequest,
  CreateTaskRequest,
  CreateTaskResponse,
  DeleteProcessRequest,
  DeleteResponse,
  DeleteTaskRequest,
  ExecProcessRequest,
  ExecProcessResponse,
  GetRequest,
  GetResponse,
  KillRequest,
  ListPidsRequest,
  ListPidsResponse,
  ListTasksRequest,
  ListTasksResponse,
  MetricsRequest,
  MetricsResponse,
  PauseTaskRequest,
  ResizePtyRequest,
  ResumeTaskRequest,
  StartRequest,
  StartResponse,
  UpdateTaskRequest,
  WaitRequest,
  WaitResponse,
} from '../../api/gen/containerd/services/tasks/v1/tasks.js';
import type { StateResponse } from '../../api/gen/containerd/task/v2/shim.js';
import type { Mount } from '../../api/gen/containerd/types/mount.js';
import type { Metric } from '../../api/gen/containerd/types/metrics.js';
import type { Process } from '../../api/gen/containerd/types/task/task.js';
import type { Empty } from '../../api/gen/google/protobuf/empty.js';
import { validateIdentifier } from '../../core/identifiers.js';
import { nowTimestamp } from '../../core/protobuf/timestamp.js';
import { parseFilters } from '../../core/filters/index.js';
import type { ContainerStore } from '../../core/metadata/containers.js';
import type { CallContext } from '../server/context.js';
import type { Process as TaskProcess, Task } from '../../core/runtime/task.js';
import type { TaskManager } from './manager.js';
import type { TasksService } from '../../api/gen/containerd/services/tasks/v1/tasks.js';
import type { LocalServiceOf } from '../server/types.js';

const DEFAULT_SNAPSHOTTER = 'overlayfs';

function processFromState(containerId: string, s: StateResponse): Process {
  return {
    containerId,
    id: s.execId || s.id,
    pid: s.pid,
    status: s.status,
    stdin: s.stdin,
    stdout: s.stdout,
    stderr: s.stderr,
    terminal: s.terminal,
    exitStatus: s.exitStatus,
    exitedAt: s.exitedAt,
  };
}

function requireId(id: string, what = 'container id'): string {
  if (!id) throw errInvalidArgument(`${what} must be set`);
  validateIdentifier(id);
  return id;
}

/** Where a container's rootfs mounts come from when the request carries none. */
export type SnapshotMounts = (
  namespace: string,
  snapshotter: string,
  key: string,
) => Promise<Mount[]>;

export class TasksLocal implements LocalServiceOf<TasksService> {
  constructor(
    private readonly manager: TaskManager,
    private readonly containers: ContainerStore,
    private readonly snapshotMounts?: SnapshotMounts,
  ) {}

  private task(ns: string, id: string): Task {
    return this.manager.get(ns, requireId(id));
  }

  /** The task's process named by a request: its init process when execId is ''. */
  private process(ns: string, id: string, execId: string): TaskProcess {
    const t = this.task(ns, id);
    if (execId) validateIdentifier(execId);
    return t.process(execId);
  }

  async create(req: CreateTaskRequest, ctx: CallContext): Promise<CreateTaskResponse> {
    const id = requireId(req.containerId);
    if (req.checkpoint) throw errNotImplemented('restoring a task from a checkpoint');
    const container = await this.containers.get(ctx.namespace, id);
    let rootfs = req.rootfs;
    // As containerd does: a container with a snapshot runs on that snapshot's mounts.
    if (rootfs.length === 0 && container.snapshotKey) {
      if (!this.snapshotMounts) throw errFailedPrecondition('no snapshotter is loaded');
      rootfs = await this.snapshotMounts(
        ctx.namespace,
        container.snapshotter || DEFAULT_SNAPSHOTTER,
        container.snapshotKey,
      );
    }
    const { pid } = await this.manager.create({
      namespace: ctx.namespace,
      id,
      runtime: container.runtime.name,
      runtimePath: req.runtimePath || undefined,
      runtimeOptions: container.runtime.options,
      spec: container.spec?.value,
      rootfs,
      stdin: req.stdin,
      stdout: req.stdout,
      stderr: req.stderr,
      terminal: req.terminal,
      options: req.options,
    });
    return { containerId: id, pid };
  }

  async start(req: StartRequest, ctx: CallContext): Promise<StartResponse> {
    const p = this.process(ctx.namespace, req.containerId, req.execId);
    return { pid: await p.start({ signal: ctx.signal }) };
  }

  async delete(req: DeleteTaskRequest, ctx: CallContext): Promise<DeleteResponse> {
    const id = requireId(req.containerId);
    const r = await this.manager.delete(ctx.namespace, id);
    return { id, pid: r.pid, exitStatus: r.exitStatus, exitedAt: r.exitedAt };
  }

  async deleteProcess(req: DeleteProcessRequest, ctx: CallContext): Promise<DeleteResponse> {
    const t = this.task(ctx.namespace, req.containerId);
    const execId = requireId(req.execId, 'exec id');
    const r = await t.process(execId).delete({ signal: ctx.signal });
    return { id: execId, pid: r.pid, exitStatus: r.exitStatus, exitedAt: r.exitedAt };
  }

  async get(req: GetRequest, ctx: CallContext): Promise<GetResponse> {
    const p = this.process(ctx.namespace, req.containerId, req.execId);
    return { process: processFromState(p.id, await p.state({ signal: ctx.signal })) };
  }

  async list(_req: ListTasksRequest, ctx: CallContext): Promise<ListTasksResponse> {
    const states = await Promise.all(
      this.manager.list(ctx.namespace).map(async (t) => {
        try {
          return processFromState(t.id, await t.state({ timeoutMs: 5_000 }));
        } catch {
          // A shim dying right now is being cleaned up; it is not listed.
          return undefined;
        }
      }),
    );
    return { tasks: states.filter((p): p is Process => p !== undefined) };
  }

  async kill(req: KillRequest, ctx: CallContext): Promise<Empty> {
    const p = this.process(ctx.namespace, req.containerId, req.execId);
    if (!Number.isInteger(req.signal) || req.signal <= 0 || req.signal > 64) {
      throw errInvalidArgument(`invalid signal ${req.signal}`);
    }
    await p.kill(req.signal, { all: req.all, signal: ctx.signal });
    return {};
  }

  async exec(req: ExecProcessRequest, ctx: CallContext): Promise<ExecProcessResponse> {
    const t = this.task(ctx.namespace, req.containerId);
    const execId = requireId(req.execId, 'exec id');
    if (!req.spec) throw errInvalidArgument('exec process spec must be set');
    const stdio = {
      stdin: req.stdin,
      stdout: req.stdout,
      stderr: req.stderr,
      terminal: req.terminal,
    };
    await t.exec(execId, req.spec, stdio, { signal: ctx.signal });
    return {};
  }

  async resizePty(req: ResizePtyRequest, ctx: CallContext): Promise<Empty> {
    const p = this.process(ctx.namespace, req.containerId, req.execId);
    await p.resize(req.width, req.height, { signal: ctx.signal });
    return {};
  }

  async closeIo(req: CloseIORequest, ctx: CallContext): Promise<Empty> {
    const p = this.process(ctx.namespace, req.containerId, req.execId);
    await p.closeIO({ stdin: req.stdin, signal: ctx.signal });
    return {};
  }

  async pause(req: PauseTaskRequest, ctx: CallContext): Promise<Empty> {
    const t = this.task(ctx.namespace, req.containerId);
    await t.pause({ signal: ctx.signal });
    return {};
  }

  async resume(req: ResumeTaskRequest, ctx: CallContext): Promise<Empty> {
    const t = this.task(ctx.namespace, req.containerId);
    await t.resume({ signal: ctx.signal });
    return {};
  }

  async listPids(req: ListPidsRequest, ctx: CallContext): Promise<ListPidsResponse> {
    const t = this.task(ctx.namespace, req.containerId);
    return { processes: await t.pids({ signal: ctx.signal }) };
  }

  async update(req: UpdateTaskRequest, ctx: CallContext): Promise<Empty> {
    const t = this.task(ctx.namespace, req.containerId);
    if (!req.resources) throw errInvalidArgument('resources must be set');
    await t.update(req.resources, { annotations: req.annotations, signal: ctx.signal });
    return {};
  }

  async checkpoint(): Promise<never> {
    throw errNotImplemented('checkpointing tasks (CRIU) is not supported by berthd');
  }

  /** Metrics for the tasks whose fields (`id`, `namespace`) match the filters. */
  async metrics(req: MetricsRequest, ctx: CallContext): Promise<MetricsResponse> {
    const f = parseFilters(req.filters);
    const chosen = this.manager
      .list(ctx.namespace)
      .filter((t) =>
        f.match(([field]) =>
          field === 'id'
            ? { value: t.id, present: true }
            : field === 'namespace'
              ? { value: t.namespace, present: true }
              : { value: '', present: false },
        ),
      );
    const metrics = await Promise.all(
      chosen.map(async (t): Promise<Metric | undefined> => {
        try {
          const data = await t.stats({ signal: ctx.signal });
          return { timestamp: nowTimestamp(), id: t.id, data };
        } catch (err) {
          if (chosen.length === 1) throw err;
          return undefined; // one stopped task must not fail the whole listing
        }
      }),
    );
    return { metrics: metrics.filter((m): m is Metric => m !== undefined) };
  }

  async wait(req: WaitRequest, ctx: CallContext): Promise<WaitResponse> {
    // A shim that dies while the init process is waited for reports its exit
    // (see ShimTask.wait); an exec's exit is lost with the shim.
    const p = this.process(ctx.namespace, req.containerId, req.execId);
    const r = await p.wait({ signal: ctx.signal });
    return { exitStatus: r.exitStatus, exitedAt: r.exitedAt };
  }
}
