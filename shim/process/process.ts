// What init and exec processes share: state, pid, exit bookkeeping, stdio, and
// the rule that an exit is never reported before the start that preceded it.

import { errCanceled, errFailedPrecondition, errNotFound } from '../../core/errors/catalogue.js';
import type { ProcessIO, StdioPaths } from '../io.js';
import { ProcessState } from './state.js';

export interface ExitInfo {
  /** Exit code, or 128 + signal. */
  status: number;
  at: Date;
}

/** An exit as the reaper saw it. */
export interface ReapedExit {
  pid: number;
  exitCode: number;
  exitedAt: Date;
}

export type ExitHandler = (proc: Process, exit: ReapedExit) => void;

export abstract class Process {
  readonly state: ProcessState;
  pid = 0;
  exit: ExitInfo | undefined;
  io: ProcessIO | undefined;
  /** When the command that spawned the process was launched: older remembered exits of a reused pid predate it. */
  launchedAt = 0;

  #starting = false;
  #pendingExit: ReapedExit | undefined;
  #exitDelivered = false;
  readonly #waiters = new Set<{ resolve(e: ExitInfo): void; reject(err: unknown): void }>();

  protected constructor(
    /** The container id for init, the exec id for an exec. */
    readonly id: string,
    readonly containerId: string,
    readonly stdio: StdioPaths,
    protected readonly onExit: ExitHandler,
  ) {
    this.state = new ProcessState(() => this.describe());
  }

  abstract get isInit(): boolean;

  describe(): string {
    return this.isInit ? `task ${this.containerId}` : `exec ${this.id} of task ${this.containerId}`;
  }

  /** Marks a start in flight: exits reaped meanwhile wait for endStart(). */
  beginStart(): void {
    this.state.require('start', 'created');
    if (this.#starting) throw errFailedPrecondition(`${this.describe()} is already starting`);
    this.#starting = true;
  }

  /** The start succeeded (its event is published): now an exit may be delivered. */
  endStart(): void {
    this.#starting = false;
    const pending = this.#pendingExit;
    this.#pendingExit = undefined;
    if (pending) this.deliverExit(pending);
  }

  /** The start failed; a pending exit (the process died during a failed start) is still delivered. */
  abortStart(): void {
    this.endStart();
  }

  /** Called by the reaper with this process's exit. */
  reaped(exit: ReapedExit): void {
    if (this.#exitDelivered || this.#pendingExit) return;
    if (this.#starting) this.#pendingExit = exit;
    else this.deliverExit(exit);
  }

  private deliverExit(exit: ReapedExit): void {
    this.#exitDelivered = true;
    this.onExit(this, exit);
  }

  /** Records the exit (state stopped) and releases every Wait. */
  setExited(status: number, at: Date): void {
    if (this.exit) return;
    this.exit = { status, at };
    this.state.transition('stopped');
    for (const w of this.#waiters) w.resolve(this.exit);
    this.#waiters.clear();
  }

  /** Resolves when the process has exited (at once if it already has). */
  wait(signal?: AbortSignal): Promise<ExitInfo> {
    if (this.exit) return Promise.resolve(this.exit);
    if (this.state.is('deleted')) return Promise.reject(errNotFound(this.describe()));
    if (signal?.aborted) return Promise.reject(signal.reason ?? errCanceled('wait'));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#waiters.delete(waiter);
        reject(signal?.reason ?? errCanceled('wait'));
      };
      const waiter = {
        resolve: (e: ExitInfo) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(e);
        },
        reject: (err: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      this.#waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Marks the process deleted and fails any remaining waiters. */
  markDeleted(): void {
    this.state.transition('deleted');
    for (const w of this.#waiters) w.reject(errNotFound(this.describe()));
    this.#waiters.clear();
    this.io?.close();
  }
}
