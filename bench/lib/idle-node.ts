// The baseline for a Node program's memory: a node process doing nothing.

import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Cleanup } from './cleanup.js';
import { terminate } from './processes.js';

export const IDLE_NODE_SCRIPT = 'setInterval(()=>{},1e9)';

export interface IdleNode {
  pid: number;
  stop(): Promise<void>;
}

/** `node -e 'setInterval(()=>{},1e9)'` with the same node binary as the bench (and the shim). */
export async function startIdleNode(cleanup: Cleanup): Promise<IdleNode> {
  const child = spawn(process.execPath, ['-e', IDLE_NODE_SCRIPT], { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const pid = child.pid!;
  const stopping = cleanup.defer(`stop idle node (pid ${pid})`, async () => {
    await terminate(pid, { graceMs: 2000 });
  });
  return { pid, stop: stopping.now };
}

/** Spawn of `node -e 0` → its exit: the floor for any step that starts a node process. */
export function timeNodeStartup(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(performance.now() - t0) : reject(new Error(`node -e 0 exited ${code}`)),
    );
  });
}
