// Waiting for and stopping processes by pid, including ones we did not spawn
// directly (a shim server that its `start` command detached).

import { readFileSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';

/** True while pid runs; a zombie (exited, waiting for its parent to reap it) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves true once pid is gone, false if it still runs after timeoutMs. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Sends `sig` (SIGTERM by default), waits up to graceMs, then SIGKILLs.
 * Resolves true if the process went on the first signal.
 */
export async function terminate(
  pid: number,
  opts: { signal?: NodeJS.Signals; graceMs?: number } = {},
): Promise<boolean> {
  if (!isAlive(pid)) return true;
  signal(pid, opts.signal ?? 'SIGTERM');
  if (await waitForExit(pid, opts.graceMs ?? 5000)) return true;
  signal(pid, 'SIGKILL');
  await waitForExit(pid, 2000);
  return false;
}

/** The pid in a pid file, or undefined when there is none (or it is not a number). */
export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How many processes run the executable `exe` (by /proc/<pid>/exe). PSS splits
 * a binary's shared pages among them, so this says how the PSS of a node
 * process was measured.
 */
export function countProcessesOf(exe: string): number {
  const target = realpathSync(exe);
  let n = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/exe`) === target) n++;
    } catch {
      /* gone, or a kernel thread */
    }
  }
  return n;
}
