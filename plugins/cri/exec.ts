// ExecSync: a command run in a running container through its shim, its output
// collected from FIFOs (capped) and its exit awaited within the call's timeout.
// Streaming exec and attach (streaming-runtime.ts) start theirs the same way.

import { randomBytes } from 'node:crypto';
import {
  errDeadlineExceeded,
  errFailedPrecondition,
  errInvalidArgument,
} from '../../core/errors/catalogue.js';
import { FifoSet } from '../../core/runtime/fifo-io.js';
import { OCI_PROCESS_TYPE_URL, packJson } from '../../core/protobuf/typeurl.js';
import type { Any } from '../../api/gen/google/protobuf/any.js';
import { CRI_NAMESPACE } from './image-store.js';
import type { CriContext } from './runtime-context.js';

/** ExecSync output is capped (CVE-2022-1708); the rest is discarded. */
export const EXEC_OUTPUT_LIMIT = 16 << 20;

/** A fresh exec id, unique within the container. */
export function newExecId(): string {
  return `exec-${randomBytes(8).toString('hex')}`;
}

export async function execSync(
  cx: CriContext,
  idOrPrefix: string,
  cmd: string[],
  timeoutS: number,
): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }> {
  const rec = cx.d.store.containers.resolve(idOrPrefix);
  if (cmd.length === 0) throw errInvalidArgument('cmd must not be empty');
  if (rec.state !== 'running') throw errFailedPrecondition(`container ${rec.id} is not running`);
  const t = cx.d.tasks.get(CRI_NAMESPACE, rec.id);
  const spec = await execSpec(cx, rec.id, cmd, false);
  const execId = newExecId();
  const fifo = FifoSet.create(execId, { root: cx.fifoRoot });
  const out = collect(fifo.stdout);
  const err = collect(fifo.stderr);
  const stdio = {
    stdin: '',
    stdout: fifo.paths.stdout,
    stderr: fifo.paths.stderr,
    terminal: false,
  };
  try {
    const proc = await t.exec(execId, spec, stdio);
    const waiting = proc.wait();
    waiting.catch(() => {});
    await proc.start();
    fifo.detach();
    let exitCode: number;
    if (timeoutS > 0) {
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutS * 1000));
      const r = await Promise.race([waiting, timer]);
      if (r === 'timeout') {
        await proc.kill(9).catch(() => {});
        await Promise.race([waiting.catch(() => {}), new Promise((res) => setTimeout(res, 5_000))]);
        throw errDeadlineExceeded(`command ${JSON.stringify(cmd)} timed out after ${timeoutS}s`);
      }
      exitCode = r.exitStatus;
    } else {
      exitCode = (await waiting).exitStatus;
    }
    await fifo.close(2_000).catch(() => {});
    return { stdout: out(), stderr: err(), exitCode };
  } finally {
    await t
      .process(execId)
      .delete()
      .catch(() => {});
    await fifo.close(0).catch(() => {});
  }
}

/** The container's own process spec running `cmd` instead, packed for an exec. */
export async function execSpec(
  cx: CriContext,
  id: string,
  cmd: string[],
  terminal: boolean,
): Promise<Any> {
  const spec = await cx.specOf(id);
  return packJson(OCI_PROCESS_TYPE_URL, { ...spec.process, args: cmd, terminal });
}

/** Reads a stream up to EXEC_OUTPUT_LIMIT bytes; the returned function gives what was read. */
function collect(s: NodeJS.ReadableStream): () => Buffer {
  const chunks: Buffer[] = [];
  let size = 0;
  s.on('data', (b: Buffer) => {
    if (size >= EXEC_OUTPUT_LIMIT) return;
    const take = b.subarray(0, EXEC_OUTPUT_LIMIT - size);
    chunks.push(take);
    size += take.length;
  });
  return () => Buffer.concat(chunks);
}
