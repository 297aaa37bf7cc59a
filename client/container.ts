// The convenient layer over containers and tasks, for Node programs:
//
//   const c = await client.newContainer({ id: 'web', spec });
//   const task = await c.newTask({ stdio: true });
//   task.io!.stdout.pipe(process.stdout);
//   await task.start();
//   const { exitStatus } = await task.wait();
//   await task.delete(); await c.delete();

import { BerthError, errInvalidArgument } from '../core/errors/catalogue.js';
import type { Container } from '../api/gen/containerd/services/containers/v1/containers.js';
import type { Mount } from '../api/gen/containerd/types/mount.js';
import type { Any } from '../api/gen/google/protobuf/any.js';
import {
  OCI_PROCESS_TYPE_URL,
  OCI_SPEC_TYPE_URL,
  packJson,
  unpackJson,
} from '../core/protobuf/typeurl.js';
import { FifoSet } from '../core/runtime/fifo-io.js';
import type { DeleteResponse, TasksApi, WaitResponse } from './tasks.js';

export interface StdioOptions {
  /** Create FIFOs for the process's stdio (false: the shim uses /dev/null). */
  stdio?: boolean;
  /** Also give it a stdin FIFO. */
  stdin?: boolean;
  terminal?: boolean;
  /** Directory for the FIFOs. */
  fifoRoot?: string;
}

export interface NewTaskOptions extends StdioOptions {
  rootfs?: Mount[];
  options?: Any;
  runtimePath?: string;
}

/** One process of a task (the init process, or an exec) and its stdio. */
export class ProcessHandle {
  constructor(
    protected readonly tasks: TasksApi,
    readonly containerId: string,
    readonly execId: string,
    readonly io: FifoSet | undefined,
  ) {}

  async start(): Promise<number> {
    return this.tasks.start(this.containerId, this.execId);
  }

  /** Resolves with the exit once the process's output has been read to the end. */
  async wait(signal?: AbortSignal): Promise<WaitResponse> {
    const r = await this.tasks.wait(this.containerId, this.execId, signal);
    // Everything the process wrote reaches our streams before delete() may tear
    // down the shim's side.
    await this.io?.drain();
    return r;
  }

  async kill(signal: number, opts: { all?: boolean } = {}): Promise<void> {
    await this.tasks.kill(this.containerId, signal, { execId: this.execId, ...opts });
  }

  async resize(width: number, height: number): Promise<void> {
    await this.tasks.resizePty(this.containerId, width, height, this.execId);
  }

  async closeStdin(): Promise<void> {
    await this.io?.closeStdin();
    await this.tasks.closeStdin(this.containerId, this.execId);
  }

  async delete(): Promise<DeleteResponse> {
    const r = this.execId
      ? await this.tasks.deleteProcess(this.containerId, this.execId)
      : await this.tasks.delete(this.containerId);
    await this.io?.close();
    return r;
  }
}

export class TaskHandle extends ProcessHandle {
  constructor(
    tasks: TasksApi,
    containerId: string,
    readonly pid: number,
    io: FifoSet | undefined,
    private readonly container: ContainerHandle,
  ) {
    super(tasks, containerId, '', io);
  }

  status() {
    return this.tasks.get(this.containerId);
  }

  pids() {
    return this.tasks.pids(this.containerId);
  }

  async pause(): Promise<void> {
    await this.tasks.pause(this.containerId);
  }

  async resume(): Promise<void> {
    await this.tasks.resume(this.containerId);
  }

  async metrics() {
    const [m] = await this.tasks.metrics(`id==${this.containerId}`);
    return m;
  }

  /** Creates an exec process from the container's process with `args` (and overrides). */
  async exec(
    execId: string,
    process: { args: string[]; env?: string[]; cwd?: string; terminal?: boolean },
    opts: StdioOptions = {},
  ): Promise<ProcessHandle> {
    const base = ((await this.container.spec()).process ?? {}) as Record<string, unknown>;
    const spec = packJson(OCI_PROCESS_TYPE_URL, {
      ...base,
      ...process,
      terminal: opts.terminal ?? process.terminal ?? false,
    });
    const io = opts.stdio
      ? FifoSet.create(`${this.containerId}-${execId}`, { ...opts, root: opts.fifoRoot })
      : undefined;
    try {
      await this.tasks.exec({
        containerId: this.containerId,
        execId,
        spec,
        stdin: io?.paths.stdin ?? '',
        stdout: io?.paths.stdout ?? '',
        stderr: io?.paths.stderr ?? '',
        terminal: opts.terminal ?? false,
      });
    } catch (err) {
      await io?.close(0);
      throw err;
    }
    return new ProcessHandle(this.tasks, this.containerId, execId, io);
  }
}

export class ContainerHandle {
  constructor(
    private readonly tasks: TasksApi,
    readonly record: Container,
    private readonly remove: (id: string) => Promise<void>,
  ) {}

  get id(): string {
    return this.record.id;
  }

  /** The container's OCI spec as a plain object. */
  async spec(): Promise<Record<string, any>> {
    const s = this.record.spec ? unpackJson<Record<string, any>>(this.record.spec) : undefined;
    if (!s) throw errInvalidArgument(`container ${this.id} has no OCI spec`);
    return s;
  }

  async newTask(opts: NewTaskOptions = {}): Promise<TaskHandle> {
    const io = opts.stdio ? FifoSet.create(this.id, { ...opts, root: opts.fifoRoot }) : undefined;
    try {
      const r = await this.tasks.create({
        containerId: this.id,
        rootfs: opts.rootfs ?? [],
        stdin: io?.paths.stdin ?? '',
        stdout: io?.paths.stdout ?? '',
        stderr: io?.paths.stderr ?? '',
        terminal: opts.terminal ?? false,
        options: opts.options,
        runtimePath: opts.runtimePath ?? '',
      });
      return new TaskHandle(this.tasks, this.id, r.pid, io, this);
    } catch (err) {
      await io?.close(0);
      throw err;
    }
  }

  /**
   * The running task with its stdio reattached: the FIFOs whose paths the task
   * recorded at create (left in place by a detached client).
   */
  async attach(): Promise<TaskHandle> {
    const p = await this.tasks.get(this.id);
    if (!p.stdout && !p.stderr && !p.stdin) {
      throw new BerthError('FailedPrecondition', `task ${this.id} was started without stdio`);
    }
    const io = FifoSet.attach({
      stdin: p.stdin,
      stdout: p.stdout,
      stderr: p.stderr,
      terminal: p.terminal,
    });
    return new TaskHandle(this.tasks, this.id, p.pid, io, this);
  }

  /** The running task, without stdio (see attach()). */
  async task(): Promise<TaskHandle> {
    const p = await this.tasks.get(this.id);
    return new TaskHandle(this.tasks, this.id, p.pid, undefined, this);
  }

  async delete(): Promise<void> {
    await this.remove(this.id);
  }
}

export interface NewContainerOptions {
  id: string;
  /** The OCI runtime spec (e.g. from generateDefaultSpec). */
  spec: Record<string, unknown>;
  runtime?: string;
  runtimeOptions?: Any;
  labels?: Record<string, string>;
  image?: string;
  snapshotter?: string;
  snapshotKey?: string;
}

export function specAny(spec: Record<string, unknown>): Any {
  return packJson(OCI_SPEC_TYPE_URL, spec);
}
