// A ShimLauncher for unit tests: every `start` makes an in-memory FakeShim
// (one per task) at a made-up address, `connect` reaches it while it lives,
// and `delete` does what `shim delete` does to it. Tests read what was started
// and deleted, make starts fail, and configure each shim as it starts.

import { errUnavailable } from '../errors/catalogue.js';
import { FakeShim } from './fake-task.js';
import type { ShimLauncher } from './shim-launcher.js';
import {
  type ShimDeleteResult,
  type ShimInvocation,
  type StartedShim,
  dialTarget,
} from './shim-process.js';
import type { ShimTaskClient } from './task.js';

export class FakeShimLauncher implements ShimLauncher {
  /** Every shim started, by address. */
  readonly shims = new Map<string, FakeShim>();
  readonly started: ShimInvocation[] = [];
  readonly deleted: ShimInvocation[] = [];
  /** When set, `start` fails with it (a shim that cannot start). */
  startError: Error | undefined;
  /** Applied to each shim as it starts. */
  onStart: ((shim: FakeShim) => void) | undefined;
  closed = false;

  /** The address a task's shim gets. */
  static address(namespace: string, id: string): string {
    return `unix:///fake-shims/${namespace}/${id}`;
  }

  /** The shim started for a task (the latest, if it was started again). */
  shim(namespace: string, id: string): FakeShim | undefined {
    return this.shims.get(FakeShimLauncher.address(namespace, id));
  }

  async start(inv: ShimInvocation): Promise<StartedShim> {
    this.started.push(inv);
    if (this.startError) throw this.startError;
    const address = FakeShimLauncher.address(inv.namespace, inv.id);
    const shim = new FakeShim(inv.namespace, inv.id);
    this.onStart?.(shim);
    this.shims.set(address, shim);
    return { address, socket: dialTarget(address) };
  }

  async connect(address: string): Promise<ShimTaskClient> {
    const shim = this.shims.get(address);
    if (!shim) throw errUnavailable(`ttrpc: dial ${address}: no such file or directory`);
    return shim.connect();
  }

  async delete(inv: ShimInvocation): Promise<ShimDeleteResult> {
    this.deleted.push(inv);
    const exit = this.shim(inv.namespace, inv.id)?.forceDelete();
    return {
      response: {
        pid: exit?.pid ?? 0,
        exitStatus: exit?.exitStatus ?? 0,
        exitedAt: exit?.exitedAt,
      },
      stderr: '',
    };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
