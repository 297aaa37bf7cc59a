import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { OutputGate } from './output-gate.js';
import { resizeQueueFrom } from './resize.js';
import type { CommandOutcome } from './status.js';
import type { AttachRequest, ExecRequest, StreamingRuntime } from './types.js';

// Transport-independent part of exec and attach: hand the client's streams to the
// runtime, wait for the command, then give its output a bounded time to drain.

export type CommandTarget =
  { kind: 'exec'; req: ExecRequest } | { kind: 'attach'; req: AttachRequest };

export interface ClientEnds {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  resize?: Readable;
}

export async function runRemoteCommand(
  runtime: StreamingRuntime,
  target: CommandTarget,
  ends: ClientEnds,
  signal: AbortSignal,
  drainTimeoutMs: number,
): Promise<CommandOutcome> {
  const { req } = target;
  const stdout = ends.stdout && new OutputGate(ends.stdout);
  const stderr = !req.tty && ends.stderr ? new OutputGate(ends.stderr) : undefined;
  const resize = resizeQueueFrom(req.tty ? ends.resize : undefined);
  const streams = { stdin: ends.stdin, stdout, stderr, tty: req.tty, resize, signal };
  let outcome: CommandOutcome;
  try {
    if (target.kind === 'exec') {
      outcome = await runtime.exec(target.req.containerId, target.req.cmd, streams);
    } else {
      await runtime.attach(target.req.containerId, streams);
      outcome = { exitCode: 0 };
    }
  } catch (err) {
    outcome = { error: err instanceof Error ? err.message : String(err) };
  }
  const gates = [stdout, stderr].filter((g): g is OutputGate => g !== undefined);
  // A background child may hold the output pipe open long after the command exited.
  // Attach output is written as it is published, and a failed start has none.
  if (target.kind === 'exec' && 'exitCode' in outcome) await drain(gates, signal, drainTimeoutMs);
  for (const g of gates) g.seal();
  resize.end();
  return outcome;
}

async function drain(gates: OutputGate[], signal: AbortSignal, ms: number): Promise<void> {
  const ac = new AbortController();
  await Promise.race([
    Promise.all(gates.map((g) => g.finished)),
    sleep(ms, undefined, { signal: ac.signal }).catch(() => undefined),
    new Promise((resolve) =>
      signal.aborted
        ? resolve(undefined)
        : signal.addEventListener('abort', resolve, { once: true }),
    ),
  ]);
  ac.abort();
}
