// Task events to the daemon: ttrpc containerd.services.events.ttrpc.v1.Events/Forward
// on $TTRPC_ADDRESS. One FIFO queue, sent one at a time, so topics arrive in the
// order they were published (create → start → exit → delete). A failed send is
// retried with a growing delay (the daemon may be restarting) before it is
// dropped, and the queue waits behind it so order is kept.

import { nowTimestamp } from '../core/protobuf/timestamp.js';
import { ForwardRequest } from '../api/gen/containerd/services/ttrpc/events/v1/events.js';
import { TtrpcClient } from '../core/ttrpc/client.js';
import type { Any } from '../api/gen/google/protobuf/any.js';

const SERVICE = 'containerd.services.events.ttrpc.v1.Events';
export const NAMESPACE_METADATA_KEY = 'containerd-namespace-ttrpc';

export interface PublisherOptions {
  /** The daemon's ttrpc address (path or unix://); empty disables publishing. */
  address: string;
  namespace: string;
  /** Attempts per event before it is dropped (default 8). */
  maxAttempts?: number;
  /** Base retry delay, multiplied by the attempt number (default 500 ms, capped at 5 s). */
  retryDelayMs?: number;
  /** Per-attempt timeout (default 5 s). */
  timeoutMs?: number;
  log?: (msg: string) => void;
}

interface Pending {
  topic: string;
  payload: Uint8Array;
}

export interface Publisher {
  publish(topic: string, event: Any): void;
  /** Resolves when the queue is empty, or after timeoutMs. */
  flush(timeoutMs: number): Promise<void>;
  close(): void;
}

export class EventPublisher implements Publisher {
  private readonly queue: Pending[] = [];
  private client: TtrpcClient | undefined;
  private running = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly opts: PublisherOptions) {
    this.maxAttempts = opts.maxAttempts ?? 8;
    this.retryDelayMs = opts.retryDelayMs ?? 500;
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  publish(topic: string, event: Any): void {
    if (this.closed || !this.opts.address) return;
    // Timestamped now, not when sent: a retried event keeps its original time.
    const payload = ForwardRequest.encode({
      envelope: { timestamp: nowTimestamp(), namespace: this.opts.namespace, topic, event },
    }).finish();
    this.queue.push({ topic, payload });
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0 && !this.closed) {
      const item = this.queue[0]!;
      for (let attempt = 1; attempt <= this.maxAttempts && !this.closed; attempt++) {
        try {
          await this.send(item);
          break;
        } catch (err) {
          this.dropClient();
          if (attempt === this.maxAttempts) {
            this.opts.log?.(`dropping event ${item.topic}: ${(err as Error).message}`);
            break;
          }
          await sleep(Math.min(this.retryDelayMs * attempt, 5000));
        }
      }
      this.queue.shift();
    }
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private async send(item: Pending): Promise<void> {
    if (!this.client || this.client.closed) {
      this.client = await TtrpcClient.connect(this.opts.address, { timeoutMs: this.timeoutMs });
    }
    await this.client.call(SERVICE, 'Forward', item.payload, {
      timeoutMs: this.timeoutMs,
      metadata: { [NAMESPACE_METADATA_KEY]: this.opts.namespace },
    });
  }

  private dropClient(): void {
    this.client?.close();
    this.client = undefined;
  }

  async flush(timeoutMs: number): Promise<void> {
    if (!this.running && this.queue.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.dropClient();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
