// A task and its processes as clients use them, after containerd's client
// Task and Process: each call names what it acts on by the object it is made
// on, never by `{id, execId}` filled in by hand. TtrpcTask implements them over
// a shim's containerd.task.v2.Task service; the daemon's task manager hands
// them out (TaskRuntime) and a fake stands in for them in unit tests.

import { BerthError, isBerthError } from '../errors/catalogue.js';
import {
  type CallOptions as TtrpcCallOptions,
  type TtrpcClient,
  type TypedClient,
  makeClient,
} from '../ttrpc/index.js';
import { type StateResponse, TaskDefinition } from '../../api/gen/containerd/task/v2/shim.js';
import type { Mount } from '../../api/gen/containerd/types/mount.js';
import type { ProcessInfo } from '../../api/gen/containerd/types/task/task.js';
import type { Any } from '../../api/gen/google/protobuf/any.js';
import type { Timestamp } from '../../api/gen/google/protobuf/timestamp.js';

/** The ttrpc metadata key carrying the namespace, as containerd sends it to shims. */
export const TTRPC_NAMESPACE_KEY = 'containerd-namespace-ttrpc';

/** What each call may carry: the caller's cancellation and a deadline. */
export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface KillOptions extends CallOptions {
  /** Every process in the task's cgroup, not only this one. */
  all?: boolean;
}

export interface ExitStatus {
  exitStatus: number;
  exitedAt: Timestamp | undefined;
}

export interface ExitInfo extends ExitStatus {
  pid: number;
}

/** A process's stdio as the shim opens it: FIFO paths ('' for none). */
export interface Stdio {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

/** One process of a task: its init process (execId '') or an exec'd one. */
export interface Process {
  /** The task (container) id. */
  readonly id: string;
  /** '' for the task's init process. */
  readonly execId: string;
  state(o?: CallOptions): Promise<StateResponse>;
  /** Starts the created process; resolves with its pid. */
  start(o?: CallOptions): Promise<number>;
  kill(signal: number, o?: KillOptions): Promise<void>;
  /**
   * Resolves with the exit once the process has exited. Rejects with
   * Unavailable when the shim can no longer be asked and reported no exit
   * (the daemon let go of it): the process may still run.
   */
  wait(o?: CallOptions): Promise<ExitStatus>;
  /** Forgets an exited process; for the init process the task itself (see TaskRuntime.delete). */
  delete(o?: CallOptions): Promise<ExitInfo>;
  resize(width: number, height: number, o?: CallOptions): Promise<void>;
  /** Closes the process's stdin (unless `stdin` is false), once the client has closed its end. */
  closeIO(o?: CallOptions & { stdin?: boolean }): Promise<void>;
}

export interface Task extends Process {
  /** Creates (not starts) a process in the task's container from an OCI process spec. */
  exec(execId: string, spec: Any, stdio: Stdio, o?: CallOptions): Promise<Process>;
  /** The process of `execId`, '' being the task itself; no call is made. */
  process(execId: string): Process;
  pids(o?: CallOptions): Promise<ProcessInfo[]>;
  pause(o?: CallOptions): Promise<void>;
  resume(o?: CallOptions): Promise<void>;
  /** New resources (an OCI LinuxResources) for the running task. */
  update(resources: Any, o?: CallOptions & { annotations?: Record<string, string> }): Promise<void>;
  /** The task's cgroup metrics (containerd cgroups Metrics), as the shim packs them. */
  stats(o?: CallOptions): Promise<Any | undefined>;
  /** Dumps the task with CRIU into `path`; `options` are the runtime's checkpoint options. */
  checkpoint(path: string, options: Any | undefined, o?: CallOptions): Promise<void>;
  /** The shim's pid, the task's pid (0 when it was never created) and the shim's version. */
  connect(o?: CallOptions): Promise<{ shimPid: number; taskPid: number; version: string }>;
}

/** What creating a task takes: the manager starts a shim for it and creates it there. */
export interface CreateTaskOptions {
  namespace: string;
  id: string;
  /** Runtime name (`io.containerd.runc.v2`) or absolute shim path. */
  runtime: string;
  /** Absolute shim path from the request; wins over the runtime name. */
  runtimePath?: string;
  /** Runtime options from the container record, piped to `shim start`. */
  runtimeOptions?: Any;
  /** The OCI spec as JSON bytes. */
  spec?: Uint8Array;
  rootfs: Mount[];
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
  /** Create options for the shim's Create call. */
  options?: Any;
}

/** Tasks by namespace and id, as their clients (the Tasks service, the CRI) see them. */
export interface TaskRuntime {
  /** Starts a shim for the task and creates the task in it. */
  create(c: CreateTaskOptions): Promise<{ task: Task; pid: number }>;
  /** NotFound when there is no such task. */
  get(namespace: string, id: string): Task;
  find(namespace: string, id: string): Task | undefined;
  /** Deletes a stopped task, its shim (unless it serves others of its group) and its bundle. */
  delete(namespace: string, id: string): Promise<ExitInfo>;
}

/** The shim's Create call for a task: its bundle, rootfs, stdio and runtime options. */
export interface ShimCreateRequest extends Stdio {
  bundle: string;
  rootfs: Mount[];
  options: Any | undefined;
}

/** A task's shim as the daemon drives it: the Task, plus creating it, shutting down and the connection. */
export interface ShimTaskClient extends Task {
  /** Creates the task in the shim; resolves with its pid. */
  create(req: ShimCreateRequest, o?: CallOptions): Promise<number>;
  /** Asks the shim to exit; without `now` a shim still serving other tasks stays. */
  shutdown(o?: CallOptions & { now?: boolean }): Promise<void>;
  /** True once the connection to the shim has ended. */
  readonly closed: boolean;
  /** Called once when the connection ends, whoever ended it. */
  onClose(listener: () => void): void;
  /** Drops the connection; the shim and its task run on. */
  close(): void;
}

/** Errors of a shim call: the catalogue's as the shim sent them, anything else as Unknown. */
function taskError(err: unknown, what: string): BerthError {
  if (isBerthError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new BerthError('Unknown', `${what}: ${message}`, { cause: err });
}

/** The typed ttrpc client and the call options every call of one task carries. */
class ShimRpc {
  readonly client: TypedClient<typeof TaskDefinition>;

  constructor(
    conn: TtrpcClient,
    private readonly namespace: string,
  ) {
    this.client = makeClient(TaskDefinition, conn);
  }

  async call<T>(
    what: string,
    fn: (c: TypedClient<typeof TaskDefinition>, opts: TtrpcCallOptions) => Promise<T>,
    o: CallOptions = {},
  ): Promise<T> {
    const opts: TtrpcCallOptions = {
      metadata: { [TTRPC_NAMESPACE_KEY]: this.namespace },
      signal: o.signal,
      timeoutMs: o.timeoutMs,
    };
    try {
      return await fn(this.client, opts);
    } catch (err) {
      throw taskError(err, what);
    }
  }
}

/** One process of a task in a shim, reached over ttrpc. */
class TtrpcProcess implements Process {
  constructor(
    protected readonly rpc: ShimRpc,
    readonly id: string,
    readonly execId: string,
  ) {}

  private get what(): string {
    return this.execId ? `exec ${this.execId} of task ${this.id}` : `task ${this.id}`;
  }

  private get ids() {
    return { id: this.id, execId: this.execId };
  }

  state(o?: CallOptions): Promise<StateResponse> {
    return this.rpc.call(this.what, (c, opts) => c.state(this.ids, opts), o);
  }

  async start(o?: CallOptions): Promise<number> {
    return (await this.rpc.call(this.what, (c, opts) => c.start(this.ids, opts), o)).pid;
  }

  async kill(signal: number, o: KillOptions = {}): Promise<void> {
    const req = { ...this.ids, signal, all: o.all ?? false };
    await this.rpc.call(this.what, (c, opts) => c.kill(req, opts), o);
  }

  async wait(o?: CallOptions): Promise<ExitStatus> {
    const r = await this.rpc.call(this.what, (c, opts) => c.wait(this.ids, opts), o);
    return { exitStatus: r.exitStatus, exitedAt: r.exitedAt };
  }

  async delete(o?: CallOptions): Promise<ExitInfo> {
    const r = await this.rpc.call(this.what, (c, opts) => c.delete(this.ids, opts), o);
    return { pid: r.pid, exitStatus: r.exitStatus, exitedAt: r.exitedAt };
  }

  async resize(width: number, height: number, o?: CallOptions): Promise<void> {
    const req = { ...this.ids, width, height };
    await this.rpc.call(this.what, (c, opts) => c.resizePty(req, opts), o);
  }

  async closeIO(o: CallOptions & { stdin?: boolean } = {}): Promise<void> {
    const req = { ...this.ids, stdin: o.stdin ?? true };
    await this.rpc.call(this.what, (c, opts) => c.closeIO(req, opts), o);
  }
}

/** A task in a shim, over the shim's ttrpc connection. */
export class TtrpcTask extends TtrpcProcess implements ShimTaskClient {
  constructor(
    private readonly conn: TtrpcClient,
    readonly namespace: string,
    id: string,
    /** Shutdown's deadline when the caller gives none. */
    private readonly shutdownTimeoutMs?: number,
  ) {
    super(new ShimRpc(conn, namespace), id, '');
  }

  get closed(): boolean {
    return this.conn.closed;
  }

  onClose(listener: () => void): void {
    this.conn.onClose(() => listener());
  }

  close(): void {
    this.conn.close();
  }

  async create(req: ShimCreateRequest, o?: CallOptions): Promise<number> {
    const full = { id: this.id, checkpoint: '', parentCheckpoint: '', ...req };
    return (await this.rpc.call(`create task ${this.id}`, (c, opts) => c.create(full, opts), o))
      .pid;
  }

  async shutdown(o: CallOptions & { now?: boolean } = {}): Promise<void> {
    const req = { id: this.id, now: o.now ?? false };
    await this.rpc.call(
      `shut down the shim of task ${this.id}`,
      (c, opts) => c.shutdown(req, opts),
      {
        ...o,
        timeoutMs: o.timeoutMs ?? this.shutdownTimeoutMs,
      },
    );
  }

  async exec(execId: string, spec: Any, stdio: Stdio, o?: CallOptions): Promise<Process> {
    const req = { id: this.id, execId, spec, ...stdio };
    await this.rpc.call(`exec ${execId} in task ${this.id}`, (c, opts) => c.exec(req, opts), o);
    return this.process(execId);
  }

  process(execId: string): Process {
    return execId ? new TtrpcProcess(this.rpc, this.id, execId) : this;
  }

  async pids(o?: CallOptions): Promise<ProcessInfo[]> {
    const what = `pids of task ${this.id}`;
    return (await this.rpc.call(what, (c, opts) => c.pids({ id: this.id }, opts), o)).processes;
  }

  async pause(o?: CallOptions): Promise<void> {
    await this.rpc.call(`pause task ${this.id}`, (c, opts) => c.pause({ id: this.id }, opts), o);
  }

  async resume(o?: CallOptions): Promise<void> {
    await this.rpc.call(`resume task ${this.id}`, (c, opts) => c.resume({ id: this.id }, opts), o);
  }

  async update(
    resources: Any,
    o: CallOptions & { annotations?: Record<string, string> } = {},
  ): Promise<void> {
    const req = { id: this.id, resources, annotations: o.annotations ?? {} };
    await this.rpc.call(`update task ${this.id}`, (c, opts) => c.update(req, opts), o);
  }

  async stats(o?: CallOptions): Promise<Any | undefined> {
    const what = `stats of task ${this.id}`;
    return (await this.rpc.call(what, (c, opts) => c.stats({ id: this.id }, opts), o)).stats;
  }

  async checkpoint(path: string, options: Any | undefined, o?: CallOptions): Promise<void> {
    const req = { id: this.id, path, options };
    await this.rpc.call(`checkpoint task ${this.id}`, (c, opts) => c.checkpoint(req, opts), o);
  }

  async connect(o?: CallOptions): Promise<{ shimPid: number; taskPid: number; version: string }> {
    const what = `connect to the shim of task ${this.id}`;
    return this.rpc.call(what, (c, opts) => c.connect({ id: this.id }, opts), o);
  }
}
