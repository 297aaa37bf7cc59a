// The CRI's tasks end here: a stop's signal with its grace period, the task's
// deletion, and the exit watch that records when a pod's pause or a
// container's process ended (and whether the OOM killer ended it).

import fs from 'node:fs/promises';
import path from 'node:path';
import { isBerthError, isNotFound } from '../../core/errors/catalogue.js';
import { signalByName } from '../../core/oci/signals.js';
import { fromTimestamp } from '../../core/protobuf/timestamp.js';
import { traceStep } from '../../core/tracing/active-span.js';
import { CRI_NAMESPACE } from './image-store.js';
import type { CriContext } from './runtime-context.js';

/** `SIGTERM`, `TERM` or `15` → 15; unknown names fall back to SIGTERM. */
export function signalNumber(s: string): number {
  return signalByName(s) ?? 15;
}

/** The wait after a signal until the exit watch has recorded the exit (and deleted a container's task). */
const EXIT_WAIT = 'exit recorded';

/** Sends `signal`, then SIGKILL after `timeoutS` seconds if the task is still there. */
export async function killTask(
  cx: CriContext,
  id: string,
  timeoutS: number,
  signal: string,
): Promise<void> {
  const t = cx.d.tasks.find(CRI_NAMESPACE, id);
  if (!t) return;
  const exited = cx.exits.get(id) ?? Promise.resolve();
  const sig = signalNumber(signal);
  if (timeoutS > 0 && sig !== 9) {
    await t.kill(sig).catch(() => {});
    const done = await traceStep(EXIT_WAIT, () =>
      Promise.race([
        exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), timeoutS * 1000)),
      ]),
    );
    if (done) return;
  }
  await t.kill(9).catch(() => {});
  await traceStep(EXIT_WAIT, () =>
    Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]),
  );
}

export async function deleteTask(cx: CriContext, id: string): Promise<void> {
  if (!cx.d.tasks.find(CRI_NAMESPACE, id)) return;
  try {
    await cx.d.tasks.delete(CRI_NAMESPACE, id);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** Records the exit of a sandbox's pause or a container's process when it happens. */
export function watchExit(cx: CriContext, id: string, kind: 'sandbox' | 'container'): void {
  const t = cx.d.tasks.find(CRI_NAMESPACE, id);
  if (!t) return;
  const p = (async () => {
    let exitStatus = 255;
    let exitedAt = Date.now() * 1e6;
    try {
      // A shim that dies reports the exit its cleanup found.
      const r = await t.wait();
      exitStatus = r.exitStatus;
      exitedAt = (fromTimestamp(r.exitedAt)?.getTime() ?? Date.now()) * 1e6;
    } catch (err) {
      // berthd let go of the shim (it is stopping): the task runs on, and the
      // next start reconnects and watches it again. Not an exit.
      if (isBerthError(err, 'Unavailable')) return;
    }
    await recordExit(cx, id, kind, exitStatus, exitedAt);
  })();
  cx.exits.set(id, p);
}

/** A pod goes NOTREADY; a container gets its exit, its log is drained and its task deleted. */
export async function recordExit(
  cx: CriContext,
  id: string,
  kind: 'sandbox' | 'container',
  code: number,
  at: number,
): Promise<void> {
  if (kind === 'sandbox') {
    const rec = cx.d.store.sandboxes.find(id);
    if (rec) {
      rec.state = 'notready';
      await cx.d.store.sandboxes.put(rec);
    }
    return;
  }
  const rec = cx.d.store.containers.find(id);
  if (!rec) return;
  const oom = await oomKilled(cx, id);
  rec.state = 'exited';
  rec.exitCode = code;
  rec.finishedAt = at;
  rec.reason = oom ? 'OOMKilled' : code === 0 ? 'Completed' : 'Error';
  rec.pid = 0;
  await cx.d.store.containers.put(rec);
  await cx.logs.finish(id);
  await deleteTask(cx, id).catch((err) =>
    cx.d.log.warn({ err, container: id }, 'deleting an exited task'),
  );
  cx.emit('stopped', id);
}

/** cgroup v1 memory.oom_control counts OOM kills; the cgroup still exists until the task is deleted. */
async function oomKilled(cx: CriContext, id: string): Promise<boolean> {
  try {
    const spec = await cx.specOf(id);
    const cg = spec.linux?.cgroupsPath;
    if (!cg) return false;
    for (const file of [
      path.join('/sys/fs/cgroup/memory', cg, 'memory.oom_control'),
      path.join('/sys/fs/cgroup', cg, 'memory.events'),
    ]) {
      const text = await fs.readFile(file, 'utf8').catch(() => '');
      const n = /^oom_kill (\d+)$/m.exec(text)?.[1];
      if (n !== undefined) return Number(n) > 0;
    }
  } catch {
    /* no spec or cgroup: not known to be an OOM kill */
  }
  return false;
}
