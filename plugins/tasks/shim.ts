// One task as the manager keeps it: the task in its shim (a ShimTaskClient),
// the bundle and shim command to clean up after it, the shim's log reader, and
// the exit the shim's death reports. It is the Task the manager hands out:
// the shim's own, except that the init process's wait reports the death's exit
// when the shim dies, and deleting the task goes through the manager.

import type { ProcessInfo } from '../../api/gen/containerd/types/task/task.js';
import type { StateResponse } from '../../api/gen/containerd/task/v2/shim.js';
import type { Any } from '../../api/gen/google/protobuf/any.js';
import type { ShimCommand } from '../../core/runtime/binary.js';
import type { Bundle } from '../../core/runtime/bundle.js';
import type { ShimLogReader } from '../../core/runtime/shim-log.js';
import type {
  CallOptions,
  ExitInfo,
  ExitStatus,
  KillOptions,
  Process,
  ShimTaskClient,
  Stdio,
  Task,
} from '../../core/runtime/task.js';

export interface ShimTaskParts {
  bundle: Bundle;
  /** The shim that serves the task, run again for `delete` after it died. */
  command: ShimCommand;
  client: ShimTaskClient;
  logReader?: ShimLogReader;
  /** Deletes the task through the manager: the shim's Delete, its Shutdown, the bundle. */
  remove: (t: ShimTask) => Promise<ExitInfo>;
}

export class ShimTask implements Task {
  readonly execId = '';
  readonly bundle: Bundle;
  readonly command: ShimCommand;
  /** The task in its shim; the manager's own calls (create, shutdown) go here. */
  readonly client: ShimTaskClient;
  /** Set while a Delete runs or once the connection is closed on purpose: its close is not a death. */
  expectedClose = false;
  /** Set once the manager has handled the shim's death. */
  private deathHandled = false;
  private readonly died: Promise<ExitInfo | undefined>;
  private resolveDied!: (exit: ExitInfo | undefined) => void;

  constructor(private readonly parts: ShimTaskParts) {
    this.bundle = parts.bundle;
    this.command = parts.command;
    this.client = parts.client;
    this.died = new Promise((resolve) => (this.resolveDied = resolve));
  }

  get namespace(): string {
    return this.bundle.namespace;
  }

  get id(): string {
    return this.bundle.id;
  }

  get key(): string {
    return taskKey(this.namespace, this.id);
  }

  /** Resolves with the exit reported when the shim died (undefined if it never does). */
  deathExit(): Promise<ExitInfo | undefined> {
    return this.died;
  }

  /** True the first time only: the caller owns the death cleanup. */
  claimDeath(): boolean {
    if (this.deathHandled) return false;
    this.deathHandled = true;
    return true;
  }

  settleDeath(exit: ExitInfo | undefined): void {
    this.resolveDied(exit);
  }

  /** Drop the connection and the log reader without touching the shim. */
  disconnect(): void {
    this.expectedClose = true;
    this.client.close();
    this.parts.logReader?.close();
  }

  // ---------------------------------------------------------------- Task

  state(o?: CallOptions): Promise<StateResponse> {
    return this.client.state(o);
  }

  start(o?: CallOptions): Promise<number> {
    return this.client.start(o);
  }

  kill(signal: number, o?: KillOptions): Promise<void> {
    return this.client.kill(signal, o);
  }

  async wait(o?: CallOptions): Promise<ExitStatus> {
    try {
      return await this.client.wait(o);
    } catch (err) {
      // The shim died while we waited: the init process's exit is what its
      // cleanup reports. A connection closed on purpose reports none.
      if (this.client.closed) {
        const exit = await this.died;
        if (exit) return { exitStatus: exit.exitStatus, exitedAt: exit.exitedAt };
      }
      throw err;
    }
  }

  delete(): Promise<ExitInfo> {
    return this.parts.remove(this);
  }

  resize(width: number, height: number, o?: CallOptions): Promise<void> {
    return this.client.resize(width, height, o);
  }

  closeIO(o?: CallOptions & { stdin?: boolean }): Promise<void> {
    return this.client.closeIO(o);
  }

  exec(execId: string, spec: Any, stdio: Stdio, o?: CallOptions): Promise<Process> {
    return this.client.exec(execId, spec, stdio, o);
  }

  process(execId: string): Process {
    return execId ? this.client.process(execId) : this;
  }

  pids(o?: CallOptions): Promise<ProcessInfo[]> {
    return this.client.pids(o);
  }

  pause(o?: CallOptions): Promise<void> {
    return this.client.pause(o);
  }

  resume(o?: CallOptions): Promise<void> {
    return this.client.resume(o);
  }

  update(resources: Any, o?: CallOptions & { annotations?: Record<string, string> }) {
    return this.client.update(resources, o);
  }

  stats(o?: CallOptions): Promise<Any | undefined> {
    return this.client.stats(o);
  }

  checkpoint(path: string, options: Any | undefined, o?: CallOptions): Promise<void> {
    return this.client.checkpoint(path, options, o);
  }

  connect(o?: CallOptions): Promise<{ shimPid: number; taskPid: number; version: string }> {
    return this.client.connect(o);
  }
}

export function taskKey(namespace: string, id: string): string {
  return `${namespace}/${id}`;
}
