// How the streaming server reaches CRI containers: exec runs a process in the
// container's task with FIFOs for its stdio, attach joins the container's
// AttachHub, and port-forward connects inside the pod's network namespace.

import type { Duplex } from 'node:stream';
import { errFailedPrecondition } from '../../core/errors/catalogue.js';
import { FifoSet } from '../../core/runtime/fifo-io.js';
import type { CommandStreams, StreamingRuntime } from '../streaming/index.js';
import type { ContainerAttachHubs } from './attach-hubs.js';
import { execSpec, newExecId } from './exec.js';
import { CRI_NAMESPACE } from './image-store.js';
import type { NetnsDialer } from './netns-dialer.js';
import type { CriRuntime } from './runtime.js';

/** How long an exec's output may keep flowing after it exited (a background child may hold it). */
const EXEC_DRAIN_MS = 2_000;

export class CriStreamingRuntime implements StreamingRuntime {
  /** Exec processes started and not yet deleted from their shim. */
  private readonly execs = new Set<string>();

  constructor(
    private readonly rt: CriRuntime,
    private readonly hubs: ContainerAttachHubs,
    private readonly dialer: NetnsDialer,
  ) {}

  /** Exec processes still held (started, not yet deleted). */
  get activeExecs(): number {
    return this.execs.size;
  }

  private runningContainer(id: string) {
    const rec = this.rt.d.store.containers.resolve(id);
    if (rec.state !== 'running') throw errFailedPrecondition(`container ${rec.id} is not running`);
    return rec;
  }

  async exec(
    containerId: string,
    cmd: string[],
    streams: CommandStreams,
  ): Promise<{ exitCode: number }> {
    const rec = this.runningContainer(containerId);
    const t = this.rt.d.tasks.get(CRI_NAMESPACE, rec.id);
    const spec = await execSpec(this.rt, rec.id, cmd, streams.tty);
    const execId = newExecId();
    const fifo = FifoSet.create(execId, {
      root: this.rt.fifoRoot,
      stdin: streams.stdin !== undefined,
      terminal: streams.tty,
    });
    const pipeOut = (
      from: NodeJS.ReadableStream & { resume(): void },
      to?: NodeJS.WritableStream,
    ) => {
      if (to) from.pipe(to);
      else from.resume();
    };
    pipeOut(fifo.stdout, streams.stdout);
    if (!streams.tty) pipeOut(fifo.stderr, streams.stderr);
    let started = false;
    try {
      const proc = await t.exec(execId, spec, fifo.paths);
      this.execs.add(execId);
      const waiting = proc.wait();
      waiting.catch(() => {});
      const kill = () => {
        void proc.kill(9).catch(() => {});
      };
      streams.signal.addEventListener('abort', kill, { once: true });
      try {
        await proc.start();
        started = true;
        fifo.detach();
        if (streams.signal.aborted) kill();
        this.pumpStdin(streams, fifo, () => proc.closeIO());
        void (async () => {
          for await (const size of streams.resize) {
            await proc.resize(size.width, size.height).catch(() => {});
          }
        })();
        const exit = await waiting;
        return { exitCode: exit.exitStatus };
      } finally {
        streams.signal.removeEventListener('abort', kill);
      }
    } finally {
      // Output drains in the background (bounded), then the shim forgets the process.
      void (async () => {
        await fifo.close(started ? EXEC_DRAIN_MS : 0).catch(() => {});
        await t
          .process(execId)
          .delete()
          .catch(() => {});
        this.execs.delete(execId);
      })();
    }
  }

  /** Client input into the exec's stdin FIFO; at its end the shim closes the process's stdin. */
  private pumpStdin(streams: CommandStreams, fifo: FifoSet, closeIO: () => Promise<void>): void {
    const input = streams.stdin;
    const target = fifo.stdin;
    if (!input || !target) return;
    target.on('error', () => {});
    input.pipe(target, { end: false });
    input.once('end', () => {
      void fifo
        .closeStdin()
        .then(closeIO)
        .catch(() => {});
    });
  }

  async attach(containerId: string, streams: CommandStreams): Promise<void> {
    const rec = this.runningContainer(containerId);
    const hub = this.hubs.get(rec.id);
    if (!hub) {
      throw errFailedPrecondition(`container ${rec.id} has no attachable stdio`);
    }
    await hub.attach(streams);
  }

  async portForward(podSandboxId: string, port: number, stream: Duplex): Promise<void> {
    const sb = this.rt.d.store.sandboxes.resolve(podSandboxId);
    if (sb.state !== 'ready') throw errFailedPrecondition(`pod sandbox ${sb.id} is not ready`);
    const sock = await this.dialer.dial(sb.netnsPath, port);
    await new Promise<void>((resolve) => {
      sock.on('error', () => sock.destroy());
      stream.on('error', () => sock.destroy());
      // The client's FIN reaches the pod and the pod's FIN ends the client's data
      // stream; the socket (not half-open) closes once both were sent.
      stream.pipe(sock);
      sock.pipe(stream);
      sock.once('close', () => {
        // A reset ends the client's side as well.
        if (!stream.writableEnded && !stream.destroyed) stream.end();
        resolve();
      });
      stream.once('close', () => sock.destroy());
    });
    sock.destroy();
  }
}
