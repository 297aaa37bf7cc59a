// Reaping orphaned descendants (runc's daemonized container init, `runc exec -d`
// processes) without stealing exits from child_process.
//
// libuv reaps each child it spawned with its own waitpid(pid); if we reaped one
// of those first, child_process would never emit 'exit'. So we record every
// ChildProcess created in this thread (node:diagnostics_channel 'child_process',
// subscribed when this module is loaded) and pass the live pids to the addon
// as exclusions; it waitpid()s only the other children listed in /proc. Reaps
// run on SIGCHLD (libuv lets several watchers share the signal) and on a slow
// periodic sweep that catches anything a coalesced signal or a racy /proc read
// missed. Processes spawned before this module was loaded are not known, so
// import it before spawning long-lived children. Children spawned from worker
// threads are never touched: the addon only looks at the main thread's children.
// (Spawning runc through the addon and reaping with waitpid(-1) would be simpler
// but is only safe if nothing in the process ever uses child_process.)

import type { ChildProcess } from 'node:child_process';
import { subscribe } from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { constants } from 'node:os';
import {
  errCanceled,
  errFailedPrecondition,
  errInvalidArgument,
} from '../core/errors/catalogue.js';
import { binding, type RawExit } from './binding.js';

export interface ProcessExit {
  pid: number;
  /** Raw wait status. */
  status: number;
  /** Exit status, or 128 + signal number when killed by a signal (containerd's convention). */
  exitCode: number;
  /** Terminating signal, or null for a normal exit. */
  signal: NodeJS.Signals | null;
  exitedAt: Date;
}

export interface ReaperOptions {
  /** Mark the process as a child subreaper on start (default true). */
  subreaper?: boolean;
  /** Safety sweep interval in ms (default 1000). */
  sweepIntervalMs?: number;
  /** How many recent exits waitFor() can still answer after the fact (default 1024). */
  recentExitLimit?: number;
}

const spawned = new Set<ChildProcess>();

/** Pids of children libuv still has to reap; prunes the ones it already has. */
function liveSpawnedPids(): number[] {
  const pids: number[] = [];
  for (const child of spawned) {
    // exitCode/signalCode are set right after libuv's waitpid; a child whose
    // spawn failed has a spawnfile but no pid. A child not yet spawned has neither.
    const reaped = child.exitCode !== null || child.signalCode !== null;
    const failed = child.pid === undefined && child.spawnfile !== undefined;
    if (reaped || failed) spawned.delete(child);
    else if (child.pid !== undefined) pids.push(child.pid);
  }
  return pids;
}

subscribe('child_process', (message) => {
  const child = (message as { process?: ChildProcess }).process;
  if (!child) return;
  liveSpawnedPids(); // keeps the set bounded even when no reaper runs
  spawned.add(child);
});

const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, num]) => [num, name as NodeJS.Signals]),
);

function toExit(raw: RawExit, exitedAt: Date): ProcessExit {
  const signal = raw.signal === null ? null : (signalNames.get(raw.signal) ?? null);
  return { pid: raw.pid, status: raw.status, exitCode: raw.exitCode, signal, exitedAt };
}

interface Waiter {
  resolve(exit: ProcessExit): void;
  reject(err: unknown): void;
}

/** The started reaper, if any: two would split exits between them. */
let active: Reaper | null = null;

export class Reaper extends EventEmitter<{ exit: [ProcessExit] }> {
  readonly #subreaper: boolean;
  readonly #sweepIntervalMs: number;
  readonly #recentLimit: number;
  /** Insertion-ordered, so the first key is the oldest. */
  readonly #recent = new Map<number, ProcessExit>();
  readonly #waiters = new Map<number, Set<Waiter>>();
  #timer: NodeJS.Timeout | undefined;
  readonly #onSignal = () => {
    this.reap();
  };

  constructor(options: ReaperOptions = {}) {
    super();
    this.#subreaper = options.subreaper ?? true;
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 1000;
    this.#recentLimit = options.recentExitLimit ?? 1024;
  }

  get running(): boolean {
    return active === this;
  }

  start(): void {
    if (active === this) return;
    if (active) throw errFailedPrecondition('another reaper is already running in this process');
    if (this.#subreaper) binding().setChildSubreaper();
    active = this;
    // Node's signal watchers are unref'd; the sweep timer is ref'd only while
    // someone waits, like a pending child_process keeps the process alive.
    process.on('SIGCHLD', this.#onSignal);
    this.#timer = setInterval(this.#onSignal, this.#sweepIntervalMs);
    this.#updateRef();
    this.reap(); // children that exited before we listened
  }

  /** Stops reaping; pending waitFor() calls reject with Canceled. The subreaper flag stays set. */
  stop(): void {
    if (active !== this) return;
    active = null;
    process.off('SIGCHLD', this.#onSignal);
    clearInterval(this.#timer);
    this.#timer = undefined;
    const waiters = [...this.#waiters.values()].flatMap((set) => [...set]);
    this.#waiters.clear();
    for (const w of waiters) w.reject(errCanceled('reaper stopped'));
  }

  /** One non-blocking pass: reaps every exited child that child_process does not own. */
  reap(): ProcessExit[] {
    const now = new Date();
    const exits = binding()
      .reapExited(liveSpawnedPids())
      .map((raw) => toExit(raw, now));
    for (const exit of exits) this.#remember(exit);
    for (const exit of exits) {
      const waiters = this.#waiters.get(exit.pid);
      this.#waiters.delete(exit.pid);
      for (const w of waiters ?? []) w.resolve(exit);
      this.emit('exit', exit);
    }
    if (exits.length > 0) this.#updateRef();
    return exits;
  }

  /**
   * Resolves with the exit of pid, including one reaped before this call (from
   * the recent-exits map). While started, a pending wait keeps the process
   * alive. Call forget(pid) once an exit has been consumed if the pid may be
   * reused and waited on again.
   */
  waitFor(pid: number, signal?: AbortSignal): Promise<ProcessExit> {
    const seen = this.#recent.get(pid);
    if (seen) return Promise.resolve(seen);
    if (liveSpawnedPids().includes(pid)) {
      return Promise.reject(
        errInvalidArgument(`pid ${pid} was spawned through child_process; use its 'exit' event`),
      );
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const set = this.#waiters.get(pid);
        set?.delete(waiter);
        if (set?.size === 0) this.#waiters.delete(pid);
        this.#updateRef();
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        resolve: (exit) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(exit);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      let set = this.#waiters.get(pid);
      if (!set) this.#waiters.set(pid, (set = new Set()));
      set.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#updateRef();
    });
  }

  /** The most recent recorded exit of pid, if still remembered. */
  lastExit(pid: number): ProcessExit | undefined {
    return this.#recent.get(pid);
  }

  forget(pid: number): void {
    this.#recent.delete(pid);
  }

  #updateRef(): void {
    if (this.#waiters.size > 0) this.#timer?.ref();
    else this.#timer?.unref();
  }

  #remember(exit: ProcessExit): void {
    this.#recent.delete(exit.pid); // a reused pid moves to the newest position
    this.#recent.set(exit.pid, exit);
    while (this.#recent.size > this.#recentLimit) {
      const oldest = this.#recent.keys().next().value as number;
      this.#recent.delete(oldest);
    }
  }
}
