// Attach targets for running CRI containers: the plugin holds the client ends of
// each container's stdio FIFOs (the log writer reads stdout/stderr from them), so
// the same chunks are published into one AttachHub per container for `Attach`
// clients, and client input goes to the stdin FIFO the container was created with.

import { Writable } from 'node:stream';
import type { FifoSet } from '../../core/runtime/fifo-io.js';
import type { TaskRuntime } from '../../core/runtime/task.js';
import { AttachHub } from '../streaming/index.js';
import { CRI_NAMESPACE } from './image-store.js';

export interface ContainerStdio {
  id: string;
  fifo: FifoSet;
  tty: boolean;
  /** ContainerConfig.stdin_once: the first client closing stdin closes the container's. */
  stdinOnce: boolean;
}

export class ContainerAttachHubs {
  private readonly hubs = new Map<string, AttachHub>();

  constructor(private readonly tasks: TaskRuntime) {}

  get(id: string): AttachHub | undefined {
    return this.hubs.get(id);
  }

  /** Starts publishing a started container's output; the hub ends when its output does. */
  register(s: ContainerStdio): void {
    this.end(s.id);
    const hub = new AttachHub({
      stdin: s.fifo.stdin ? this.stdinOf(s) : undefined,
      stdinOnce: s.stdinOnce,
      tty: s.tty,
      onResize: (size) => {
        const t = this.tasks.find(CRI_NAMESPACE, s.id);
        void t?.resize(size.width, size.height).catch(() => {});
      },
    });
    this.hubs.set(s.id, hub);
    const outputs = s.tty ? [s.fifo.stdout] : [s.fifo.stdout, s.fifo.stderr];
    let open = outputs.length;
    outputs.forEach((r, i) => {
      const name = i === 0 ? 'stdout' : 'stderr';
      r.on('data', (chunk: Buffer) => hub.publish(name, chunk));
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        if (--open === 0 && this.hubs.get(s.id) === hub) this.end(s.id);
      };
      r.once('end', finish);
      r.once('close', finish);
    });
  }

  /** The container exited (or is gone): every attach session finishes. */
  end(id: string): void {
    const hub = this.hubs.get(id);
    if (!hub) return;
    this.hubs.delete(id);
    hub.end();
  }

  close(): void {
    for (const id of [...this.hubs.keys()]) this.end(id);
  }

  /**
   * The container's stdin as the hub writes it: closing it ends our FIFO end and
   * asks the shim to close the process's stdin (CloseIO), as a detach with
   * stdin_once does.
   */
  private stdinOf(s: ContainerStdio): Writable {
    const fifoIn = s.fifo.stdin!;
    fifoIn.on('error', () => {});
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        if (fifoIn.destroyed) return cb();
        if (fifoIn.write(chunk)) cb();
        else fifoIn.once('drain', () => cb());
      },
      final: (cb) => {
        void (async () => {
          await s.fifo.closeStdin();
          await this.tasks
            .find(CRI_NAMESPACE, s.id)
            ?.closeIO()
            .catch(() => {});
        })().then(() => cb());
      },
    });
  }
}
