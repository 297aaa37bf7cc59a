// Running containers' log files: the writer that copies a container's stdio
// FIFOs into its CRI log, kept until the container exits so that
// ReopenContainerLog can rotate it and the exit can drain it.

import { errFailedPrecondition } from '../../core/errors/catalogue.js';
import type { FifoSet } from '../../core/runtime/fifo-io.js';
import { CriLogWriter } from './log-writer.js';

/** How long an exited container's output may still drain into its log. */
const DRAIN_MS = 2_000;

export class ContainerLogs {
  private readonly open = new Map<string, { writer: CriLogWriter; fifo: FifoSet }>();

  constructor(private readonly maxLineSize: number) {}

  /**
   * Copies the FIFOs' output into `logPath` (stderr too when `stderr`), or
   * discards it when the container has no log file; returns the writer.
   */
  follow(fifo: FifoSet, logPath: string, stderr: boolean): CriLogWriter | undefined {
    if (!logPath) {
      fifo.stdout.resume();
      fifo.stderr.resume();
      return undefined;
    }
    const writer = new CriLogWriter(logPath, this.maxLineSize);
    writer.attach(fifo.stdout, 'stdout');
    if (stderr) writer.attach(fifo.stderr, 'stderr');
    return writer;
  }

  /** Keeps a running container's writer and FIFOs until `finish`. */
  keep(id: string, writer: CriLogWriter | undefined, fifo: FifoSet): void {
    if (writer) this.open.set(id, { writer, fifo });
  }

  /** Reopens the log file after the kubelet rotated it. */
  reopen(id: string): void {
    const log = this.open.get(id);
    if (!log) throw errFailedPrecondition(`container ${id} has no log file`);
    log.writer.reopen();
  }

  /** The container exited: its output drains (bounded), then writer and FIFOs close. */
  async finish(id: string): Promise<void> {
    const log = this.open.get(id);
    if (!log) return;
    this.open.delete(id);
    await Promise.race([log.writer.done, new Promise((r) => setTimeout(r, DRAIN_MS))]);
    log.writer.close();
    await log.fifo.close(0).catch(() => {});
  }
}
