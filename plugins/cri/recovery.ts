// After a berthd restart: names, live tasks, log writers, attach stdio and exit
// watches come back from the records. What the shims say wins over what was
// recorded: a running task keeps (or gets back) its pod READY and its
// container RUNNING, a stopped one gets its real exit, and only a task that is
// gone is reported lost. A pod without an infra container has no task: its
// pinned namespaces are what keep it READY.

import fs from 'node:fs';
import { withGrowingDeadline } from '../../core/runtime/growing-deadline.js';
import { FifoSet } from '../../core/runtime/fifo-io.js';
import { fromTimestamp } from '../../core/protobuf/timestamp.js';
import type { StateResponse } from '../../api/gen/containerd/task/v2/shim.js';
import { Status as TaskStatus } from '../../api/gen/containerd/types/task/task.js';
import { ContainerConfig } from '../../api/gen/cri/runtime/v1/api.js';
import { CRI_NAMESPACE } from './image-store.js';
import { isInfraless, podNamespacePins } from './pod-namespaces.js';
import { type CriContext, nowNs } from './runtime-context.js';
import type { ContainerRecord, SandboxRecord } from './store.js';
import { deleteTask, recordExit, watchExit } from './task-exits.js';

/** First limit for a recovered task's State call; doubled after each miss. */
const STATE_TIMEOUT_MS = 5_000;

/** What a task's shim says at recovery: no task (its shim is gone), no answer, or its state. */
type TaskProbe =
  { kind: 'none' } | { kind: 'unanswered'; err: unknown } | { kind: 'task'; state: StateResponse };

export async function recover(cx: CriContext): Promise<void> {
  await cx.d.store.load();
  const sandboxes = cx.d.store.sandboxes.list();
  const containers = cx.d.store.containers.list();
  // Every shim asked at once: a slow one must not hold up the others.
  const withTask = [...sandboxes.filter((sb) => !isInfraless(sb)), ...containers];
  const probes = new Map(
    await Promise.all(withTask.map(async (r) => [r.id, await probeTask(cx, r.id)] as const)),
  );
  for (const sb of sandboxes) {
    cx.names.reserve(sb.name, sb.id);
    if (isInfraless(sb)) await recoverInfralessSandbox(cx, sb);
    else await recoverSandbox(cx, sb, probes.get(sb.id)!);
  }
  for (const c of containers) {
    cx.names.reserve(c.name, c.id);
    await recoverContainer(cx, c, probes.get(c.id)!);
  }
}

async function recoverSandbox(cx: CriContext, sb: SandboxRecord, probe: TaskProbe): Promise<void> {
  if (probe.kind === 'unanswered') {
    // Unknown is not lost: the record stands, and the wait reports an exit if one comes.
    cx.d.log.warn({ err: probe.err, sandbox: sb.id }, 'pause task did not answer');
    watchExit(cx, sb.id, 'sandbox');
    return;
  }
  if (probe.kind === 'task' && probe.state.status === TaskStatus.RUNNING) {
    // The pause it started still runs (an older berthd recorded NOTREADY when it stopped).
    if (sb.state !== 'ready' && sb.pid === probe.state.pid) {
      cx.d.log.warn({ sandbox: sb.id }, 'pod sandbox recorded not ready while it runs');
      sb.state = 'ready';
      await cx.d.store.sandboxes.put(sb);
    }
    watchExit(cx, sb.id, 'sandbox');
  } else if (sb.state === 'ready') {
    sb.state = 'notready';
    await cx.d.store.sandboxes.put(sb);
    if (probe.kind === 'task') await deleteTask(cx, sb.id).catch(() => {});
  }
}

/** A pod without an infra container stays ready while its pinned namespaces are in place. */
async function recoverInfralessSandbox(cx: CriContext, sb: SandboxRecord): Promise<void> {
  if (sb.state !== 'ready' || (await podNamespacePins(cx.d).inPlace(sb))) {
    return;
  }
  cx.d.log.warn({ sandbox: sb.id }, 'pod sandbox namespaces are gone: recorded not ready');
  sb.state = 'notready';
  await cx.d.store.sandboxes.put(sb);
}

async function recoverContainer(
  cx: CriContext,
  c: ContainerRecord,
  probe: TaskProbe,
): Promise<void> {
  const st = probe.kind === 'task' ? probe.state : undefined;
  if (st?.status === TaskStatus.RUNNING) {
    if (c.state !== 'running') {
      // Its process runs (an older berthd recorded exit 255 when it stopped).
      cx.d.log.warn({ container: c.id, recorded: c.state }, 'container recorded not running');
      Object.assign(c, { state: 'running', pid: st.pid, exitCode: 0, finishedAt: 0 });
      Object.assign(c, { reason: '', message: '', startedAt: c.startedAt || nowNs() });
      await cx.d.store.containers.put(c);
    }
    if (st.stdout) {
      try {
        reattachStdio(cx, c, st);
      } catch (err) {
        cx.d.log.warn({ err, container: c.id }, 'container stdio cannot be reattached');
      }
    }
    watchExit(cx, c.id, 'container');
    return;
  }
  if (c.state !== 'running') return;
  if (probe.kind === 'unanswered') {
    cx.d.log.warn(
      { err: probe.err, container: c.id },
      'container task did not answer: kept running, its output not logged',
    );
    watchExit(cx, c.id, 'container');
  } else if (st) {
    const at = (fromTimestamp(st.exitedAt)?.getTime() ?? Date.now()) * 1e6;
    await recordExit(cx, c.id, 'container', st.exitStatus, at);
  } else {
    c.state = 'exited';
    c.exitCode = 255;
    c.reason = 'Unknown';
    c.message = 'the container task was lost while berthd was down';
    c.finishedAt = c.finishedAt || nowNs();
    await cx.d.store.containers.put(c);
  }
}

/**
 * A running container's recorded FIFOs, opened again after a restart: the log
 * continues, and attach works as before, stdin included while the shim still
 * reads it (after a stdin_once close nobody does, and it stays closed).
 */
function reattachStdio(
  cx: CriContext,
  c: ContainerRecord,
  st: { stdin: string; stdout: string; stderr: string; terminal: boolean },
): void {
  const config = ContainerConfig.fromJSON(c.config);
  const fifo = FifoSet.attach({
    stdin: config.stdin && st.stdin && fifoHasReader(st.stdin) ? st.stdin : '',
    stdout: st.stdout,
    stderr: st.stderr,
    terminal: st.terminal,
  });
  cx.logs.keep(c.id, cx.logs.follow(fifo, c.logPath, !!st.stderr), fifo);
  fifo.detach();
  cx.events.emit('stdio', {
    id: c.id,
    fifo,
    tty: st.terminal,
    stdinOnce: config.stdinOnce,
  });
}

/** The task's state from its shim, asked patiently: a slow shim is not a dead one. */
async function probeTask(cx: CriContext, id: string): Promise<TaskProbe> {
  const t = cx.d.tasks.find(CRI_NAMESPACE, id);
  if (!t) return { kind: 'none' };
  try {
    const state = await withGrowingDeadline(STATE_TIMEOUT_MS, (timeoutMs) =>
      t.state({ timeoutMs }),
    );
    return { kind: 'task', state };
  } catch (err) {
    return { kind: 'unanswered', err };
  }
}

/**
 * Whether some process has `file` (a FIFO) open for reading: opening it
 * write-only without blocking fails with ENXIO when nobody does.
 */
function fifoHasReader(file: string): boolean {
  try {
    fs.closeSync(fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
    return true;
  } catch {
    return false;
  }
}
