// Spare shims: Berth's own shim started before a container needs it, so a
// task create pays a message on stdin instead of Node's start-up (most of the
// time a shim start takes). One spare per shim command is kept; the daemon
// launches the next one after the start that took it. A spare is a `start` waiting for its arguments
// (core/runtime/spare-assignment.ts): it exits by itself when its stdin closes, so one left over by
// a daemon that died goes away with it.

import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { ShimCommand } from './binary.js';
import { cloexecFrom } from '../../native/index.js';

export type SpareProcess = ChildProcessByStdio<Writable, Readable, Readable>;

export interface ShimSparesOptions {
  /** Spares kept per shim command; 0 turns them off. */
  count: number;
  /** Environment every spare starts with (the assignment adds the per-task entries). */
  env: NodeJS.ProcessEnv;
  /**
   * Flags on every spare's command line before `start`, so `ps` shows whose
   * spare (and, once assigned, whose shim) it is, as a shim's own flags do.
   * The assignment carries the flags that count.
   */
  args?: string[];
  /** Called when a spare fails before it was used (logged; the next take starts afresh). */
  onError?: (msg: string) => void;
}

interface Pool {
  command: ShimCommand;
  idle: SpareProcess[];
}

export class ShimSpares {
  private readonly pools = new Map<string, Pool>();
  private closed = false;

  constructor(private readonly o: ShimSparesOptions) {}

  /**
   * A live spare for `command`, or undefined when none is ready (the caller
   * starts a shim the usual way). Call `refill` once the start is done, so
   * the next create finds one without this one paying for its launch.
   */
  take(command: ShimCommand): SpareProcess | undefined {
    if (this.closed || this.o.count <= 0) return undefined;
    const pool = this.pool(command);
    let spare: SpareProcess | undefined;
    while (!spare && pool.idle.length > 0) {
      const s = pool.idle.shift()!;
      if (s.exitCode === null && s.signalCode === null) spare = s;
    }
    if (spare) {
      spare.removeAllListeners('exit');
      setRef(spare, true); // in use now: its answer is awaited
    }
    return spare;
  }

  /** Launches spares for `command` up to the configured count. */
  refill(command: ShimCommand): void {
    if (this.closed || this.o.count <= 0) return;
    this.fill(this.pool(command));
  }

  private pool(command: ShimCommand): Pool {
    const key = poolKey(command);
    let pool = this.pools.get(key);
    if (!pool) {
      pool = { command, idle: [] };
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Stops every idle spare (by its pid) and waits for them to exit. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.pools.values()].flatMap((p) => p.idle.splice(0));
    await Promise.all(
      all.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.exitCode !== null || s.signalCode !== null) return resolve();
            s.once('exit', () => resolve());
            s.kill('SIGKILL');
          }),
      ),
    );
  }

  private fill(pool: Pool): void {
    while (!this.closed && pool.idle.length < this.o.count) {
      const spare = this.launch(pool.command);
      if (!spare) return;
      pool.idle.push(spare);
      spare.once('exit', (code, signal) => {
        const i = pool.idle.indexOf(spare);
        if (i < 0) return;
        pool.idle.splice(i, 1);
        if (!this.closed) {
          // Not refilled here: a spare that cannot start would otherwise spin.
          this.o.onError?.(
            `spare shim ${pool.command.path} exited unused (${signal ?? `status ${code}`})`,
          );
        }
      });
    }
  }

  private launch(command: ShimCommand): SpareProcess | undefined {
    let child: SpareProcess;
    try {
      cloexecFrom(3); // a spare becomes a shim: it gets its stdio, not the daemon's files
      child = spawn(command.command, [...command.args, ...(this.o.args ?? []), 'start'], {
        cwd: '/',
        env: {
          ...this.o.env,
          NODE_NO_WARNINGS: '1',
          BERTH_SHIM_INLINE_START: '1',
          BERTH_SHIM_SPARE: '1',
        },
        stdio: ['pipe', 'pipe', 'pipe'],
        // Its own process group, as every shim.
        detached: true,
      });
    } catch (err) {
      this.o.onError?.(`spare shim ${command.path}: ${(err as Error).message}`);
      return undefined;
    }
    child.once('error', (err) => this.o.onError?.(`spare shim ${command.path}: ${err.message}`));
    child.stdin.on('error', () => {});
    // Idle spares must not keep the daemon's event loop alive.
    setRef(child, false);
    return child;
  }
}

function setRef(child: SpareProcess, on: boolean): void {
  if (on) child.ref();
  else child.unref();
  for (const s of [child.stdin, child.stdout, child.stderr]) {
    const handle = s as unknown as { ref?: () => void; unref?: () => void };
    if (on) handle.ref?.();
    else handle.unref?.();
  }
}

function poolKey(c: ShimCommand): string {
  return [c.command, ...c.args].join('\0');
}
