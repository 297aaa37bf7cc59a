// One task's connection to its shim: the typed containerd.task.v2.Task client
// plus what the manager needs to clean up after it (bundle, log reader, the
// shim command for `delete`).

import { TaskDefinition } from '../../api/gen/containerd/task/v2/shim.js';
import type { Timestamp } from '../../api/gen/google/protobuf/timestamp.js';
import {
  type CallOptions,
  type TtrpcClient,
  type TypedClient,
  makeClient,
} from '../../core/ttrpc/index.js';
import type { ShimCommand } from '../../core/runtime/binary.js';
import type { Bundle } from '../../core/runtime/bundle.js';
import type { ShimLogReader } from '../../core/runtime/shim-log.js';

/** The ttrpc metadata key carrying the namespace, as containerd sends it to shims. */
export const TTRPC_NAMESPACE_KEY = 'containerd-namespace-ttrpc';

export interface TaskExitInfo {
  pid: number;
  exitStatus: number;
  exitedAt: Timestamp | undefined;
}

export class ShimTask {
  readonly task: TypedClient<typeof TaskDefinition>;
  /** Set while a Delete runs or once the connection is closed on purpose: its close is not a death. */
  expectedClose = false;
  /** Set once the manager has handled the shim's death. */
  private deathHandled = false;
  private readonly died: Promise<TaskExitInfo | undefined>;
  private resolveDied!: (exit: TaskExitInfo | undefined) => void;

  constructor(
    readonly namespace: string,
    readonly id: string,
    readonly bundle: Bundle,
    readonly shim: ShimCommand,
    readonly conn: TtrpcClient,
    private readonly logReader: ShimLogReader | undefined,
  ) {
    this.task = makeClient(TaskDefinition, conn);
    this.died = new Promise((resolve) => (this.resolveDied = resolve));
  }

  get key(): string {
    return taskKey(this.namespace, this.id);
  }

  /** Call options carrying the namespace, plus the caller's cancellation and deadline. */
  opts(extra: { signal?: AbortSignal; timeoutMs?: number } = {}): CallOptions {
    return { metadata: { [TTRPC_NAMESPACE_KEY]: this.namespace }, ...extra };
  }

  /** Resolves with the exit reported when the shim died (undefined if it never does). */
  deathExit(): Promise<TaskExitInfo | undefined> {
    return this.died;
  }

  /** True the first time only: the caller owns the death cleanup. */
  claimDeath(): boolean {
    if (this.deathHandled) return false;
    this.deathHandled = true;
    return true;
  }

  settleDeath(exit: TaskExitInfo | undefined): void {
    this.resolveDied(exit);
  }

  /** Drop the connection and the log reader without touching the shim. */
  disconnect(): void {
    this.expectedClose = true;
    this.conn.close();
    this.logReader?.close();
  }
}

export function taskKey(namespace: string, id: string): string {
  return `${namespace}/${id}`;
}
