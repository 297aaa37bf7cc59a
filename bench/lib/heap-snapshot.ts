// The live JavaScript heap of a running Node daemon, from outside: the daemon
// runs with `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=DIR`, we send the
// signal, and sum the self sizes of the snapshot's nodes. V8 collects garbage
// before it writes a snapshot, so the sum is what is really retained, which is
// what tells a leak from a heap that has not been collected yet.

import { readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { sleep } from './processes.js';
import { versionOnce } from './version-probe.js';

/** Node options that make a daemon write a heap snapshot to `dir` on SIGUSR2. */
export function heapSnapshotOptions(dir: string): NodeJS.ProcessEnv {
  return { NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}` };
}

interface SnapshotFile {
  snapshot: { meta: { node_fields: string[] } };
  nodes: number[];
}

/** Retained heap bytes recorded in one snapshot file. */
export function heapSnapshotBytes(file: string): number {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as SnapshotFile;
  const fields = snap.snapshot.meta.node_fields;
  const stride = fields.length;
  const self = fields.indexOf('self_size');
  if (self < 0 || stride === 0) throw new Error(`${file}: no self_size in node_fields`);
  let total = 0;
  for (let i = self; i < snap.nodes.length; i += stride) total += snap.nodes[i]!;
  return total;
}

/**
 * Asks the daemon `pid` (serving gRPC on `socket`) for a snapshot in `dir`
 * and returns its retained bytes; the file is removed afterwards. The daemon
 * writes it on its main thread, so its next Version answer means it is done.
 */
export async function takeHeapSnapshot(pid: number, socket: string, dir: string): Promise<number> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 120_000;
  for (;;) {
    const fresh = readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (fresh.length > 0) {
      try {
        await versionOnce(socket, 60_000);
        const file = path.join(dir, fresh[0]!);
        const bytes = heapSnapshotBytes(file);
        rmSync(file, { force: true });
        return bytes;
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
    }
    if (Date.now() > deadline) throw new Error(`no heap snapshot from pid ${pid} in ${dir}`);
    await sleep(100);
  }
}
