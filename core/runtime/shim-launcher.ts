// How the daemon gets a task's shim (runtime v2). Berth's own shim starts
// inline: the group's shim already running is reused (the socket decision
// `berth-shim start` makes too), else a spare takes the task, else a `start`
// process becomes the server. Any other shim runs the two-process `start`
// containerd uses. The address it prints is dialled for a TtrpcTask; `delete`
// cleans up after a shim that is gone.

import type { Any } from '../../api/gen/google/protobuf/any.js';
import { TtrpcClient } from '../ttrpc/index.js';
import { planShimSocket, shimSocketDir } from './address.js';
import { isBerthShim } from './binary.js';
import {
  type ShimDeleteResult,
  type ShimInvocation,
  type StartedShim,
  dialTarget,
  runShimDelete,
  runShimStart,
} from './shim-process.js';
import { ShimSpares } from './shim-spares.js';
import { type ShimTaskClient, TtrpcTask } from './task.js';

/** Starting, reaching and cleaning up shims: processes for the daemon, a fake in unit tests. */
export interface ShimLauncher {
  /** A shim serving the task: the group's running one, or one started for it. */
  start(inv: ShimInvocation, o: { runtimeOptions?: Any; spec?: Uint8Array }): Promise<StartedShim>;
  /** Dials the shim at `address` (as `start` printed it) for one task. */
  connect(
    address: string,
    namespace: string,
    id: string,
    timeoutMs: number,
  ): Promise<ShimTaskClient>;
  /** The shim's `delete`: runc delete --force, unmounts, the task's last exit. */
  delete(inv: ShimInvocation): Promise<ShimDeleteResult>;
  /** Stops what the launcher keeps (spares). */
  close(): Promise<void>;
}

export interface ShimProcessesOptions {
  /** Berth's shim starts inline (one process instead of two). */
  inline: boolean;
  /** Spares kept per Berth shim command when inline; 0 for none. */
  spares: number;
  /** Flags on every spare's command line (whose spare it is, for `ps`). */
  spareArgs: string[];
  startTimeoutMs: number;
  deleteTimeoutMs: number;
  /** Shutdown's deadline on the tasks it connects. */
  shutdownTimeoutMs: number;
  onError: (msg: string) => void;
}

/** Shims as processes: the launcher berthd uses. */
export class ShimProcesses implements ShimLauncher {
  private readonly spares: ShimSpares;

  constructor(private readonly o: ShimProcessesOptions) {
    this.spares = new ShimSpares({
      count: o.inline ? o.spares : 0,
      env: process.env,
      args: o.spareArgs,
      onError: o.onError,
    });
  }

  async start(
    inv: ShimInvocation,
    o: { runtimeOptions?: Any; spec?: Uint8Array },
  ): Promise<StartedShim> {
    const command = inv.command;
    const inline = this.o.inline && isBerthShim(command);
    if (inline) {
      const plan = await planShimSocket({
        daemonAddress: inv.address,
        namespace: inv.namespace,
        id: inv.id,
        spec: parseSpec(o.spec),
        socketDir: inv.socketDir ?? shimSocketDir(),
      });
      // Its `start` would hand over to the group's shim: skip the start.
      if (plan.running) return { socket: plan.socket, address: plan.address };
    }
    try {
      return await runShimStart(inv, {
        runtimeOptions: o.runtimeOptions,
        timeoutMs: this.o.startTimeoutMs,
        inline,
        spare: inline ? this.spares.take(command) : undefined,
      });
    } finally {
      // After the start, not during it: a launch competes with it for CPU.
      if (inline) this.spares.refill(command);
    }
  }

  async connect(
    address: string,
    namespace: string,
    id: string,
    timeoutMs: number,
  ): Promise<ShimTaskClient> {
    const conn = await TtrpcClient.connect(dialTarget(address), { timeoutMs });
    return new TtrpcTask(conn, namespace, id, this.o.shutdownTimeoutMs);
  }

  delete(inv: ShimInvocation): Promise<ShimDeleteResult> {
    return runShimDelete(inv, this.o.deleteTimeoutMs);
  }

  close(): Promise<void> {
    return this.spares.close();
  }
}

/** The spec's annotations, or undefined when it does not parse (`start` reports that). */
function parseSpec(
  spec: Uint8Array | undefined,
): { annotations?: Record<string, string> } | undefined {
  if (!spec) return undefined;
  try {
    return JSON.parse(Buffer.from(spec).toString('utf8'));
  } catch {
    return undefined;
  }
}
