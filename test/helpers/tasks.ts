// Cleanup for tests that run tasks through berthd: every task in the given
// namespaces is killed and deleted, the containers removed, and any shim left
// behind (found by the pid file in its bundle) killed by PID.

import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '../../client/client.js';
import { Status } from '../../api/gen/containerd/types/task/task.js';

export function taskStateDir(daemonState: string): string {
  return path.join(daemonState, 'io.berth.runtime.v2.task');
}

export async function removeAllTasks(client: Client): Promise<void> {
  const tasks = await client.tasks.list().catch(() => []);
  await Promise.all(
    tasks.map(async (t) => {
      if (t.status !== Status.STOPPED) {
        const waited = client.tasks.wait(t.id).catch(() => undefined);
        await client.tasks.kill(t.id, 9, { all: true }).catch(() => {});
        await Promise.race([waited, new Promise((r) => setTimeout(r, 5_000))]);
      }
      await client.tasks.delete(t.id).catch(() => {});
    }),
  );
  for (const c of await client.containers.list().catch(() => [])) {
    await client.containers.delete(c.id).catch(() => {});
  }
}

/** Shims still running from bundles under the daemon's state directory, by PID. */
export function killLeftoverShims(daemonState: string): void {
  const root = taskStateDir(daemonState);
  if (!fs.existsSync(root)) return;
  for (const ns of fs.readdirSync(root)) {
    for (const id of fs.readdirSync(path.join(root, ns))) {
      const pidFile = path.join(root, ns, id, 'shim.pid');
      if (!fs.existsSync(pidFile)) continue;
      try {
        process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}

export async function waitFor<T>(
  fn: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The process exists and has not exited (a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    const state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== undefined && state !== 'Z';
  } catch {
    return false;
  }
}
