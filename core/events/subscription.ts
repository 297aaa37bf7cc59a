// One subscriber's bounded, ordered queue of envelopes, consumed as an async
// iterator. The exchange pushes synchronously and never waits for a consumer:
// when the queue is full the subscriber is dropped. The consumer then receives
// what was already queued, in order, followed by a ResourceExhausted error.

import { errInvalidArgument, errResourceExhausted, type BerthError } from '../errors/catalogue.js';
import type { Envelope } from './envelope.js';

export const DEFAULT_BUFFER_SIZE = 1024;

export interface SubscriptionOptions {
  /** Envelopes that may wait for the consumer before it is dropped; default 1024. */
  bufferSize?: number;
  /** Closes the subscription when aborted (for example when the client goes away). */
  signal?: AbortSignal;
}

type State =
  /** Accepting envelopes. */
  | 'open'
  /** No more envelopes will arrive; the queue drains, then the iterator ends (or throws). */
  | 'ending'
  /** Finished; the iterator reports done. */
  | 'closed';

interface Waiter {
  resolve(r: IteratorResult<Envelope>): void;
  reject(err: unknown): void;
}

const DONE: IteratorResult<Envelope> = Object.freeze({ done: true, value: undefined });

let nextId = 1;

export class Subscription implements AsyncIterable<Envelope>, AsyncIterator<Envelope> {
  /** Process-unique, for logs. */
  readonly id = nextId++;
  readonly bufferSize: number;
  /** Why the subscriber was dropped; set as soon as it happens. */
  error: BerthError | undefined;
  private state: State = 'open';
  private queue: Envelope[] = [];
  private head = 0;
  private waiters: Waiter[] = [];
  private accepted = 0;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort = () => this.close();

  /** @param detach removes this subscription from its exchange */
  constructor(
    readonly filters: readonly string[],
    options: SubscriptionOptions,
    private readonly detach: (s: Subscription) => void,
  ) {
    const size = options.bufferSize ?? DEFAULT_BUFFER_SIZE;
    if (!Number.isSafeInteger(size) || size < 1) {
      throw errInvalidArgument(`subscription buffer size must be a positive integer, got ${size}`);
    }
    this.bufferSize = size;
    if (options.signal) {
      if (options.signal.aborted) this.state = 'closed';
      else options.signal.addEventListener('abort', this.onAbort, { once: true });
    }
    this.signal = options.signal;
  }

  /** Envelopes queued and not yet taken by the consumer. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /** Envelopes accepted for this subscriber so far (delivered or queued). */
  get received(): number {
    return this.accepted;
  }

  /** False once the subscription no longer accepts envelopes. */
  get active(): boolean {
    return this.state === 'open';
  }

  /**
   * Called by the exchange for each matching envelope. Returns false when the
   * queue was full and the subscriber has just been dropped.
   */
  offer(envelope: Envelope): boolean {
    if (this.state !== 'open') return true;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.accepted++;
      waiter.resolve({ done: false, value: envelope });
      return true;
    }
    if (this.pending >= this.bufferSize) {
      this.error = errResourceExhausted(
        `events subscriber fell behind (${this.bufferSize} events queued) and was dropped after ${this.accepted} events`,
      );
      this.finish();
      return false;
    }
    this.accepted++;
    this.queue.push(envelope);
    return true;
  }

  /** Ends the stream after the queued envelopes, e.g. when the exchange shuts down. */
  end(): void {
    if (this.state !== 'open') return;
    this.finish();
  }

  /** Stops the subscription now; queued envelopes are discarded. Idempotent. */
  close(): void {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    this.queue = [];
    this.head = 0;
    for (const w of this.waiters.splice(0)) w.resolve(DONE);
    this.signal?.removeEventListener('abort', this.onAbort);
    if (wasOpen) this.detach(this);
  }

  next(): Promise<IteratorResult<Envelope>> {
    if (this.pending > 0) return Promise.resolve({ done: false, value: this.take() });
    if (this.state === 'ending') return this.settle();
    if (this.state === 'closed') return Promise.resolve(DONE);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<Envelope>> {
    this.close();
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): AsyncIterator<Envelope> {
    return this;
  }

  private take(): Envelope {
    const e = this.queue[this.head]!;
    this.queue[this.head++] = undefined as unknown as Envelope;
    // Reclaim the consumed prefix once it dominates the array.
    if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return e;
  }

  private finish(): void {
    this.state = 'ending';
    this.signal?.removeEventListener('abort', this.onAbort);
    // Waiters exist only while the queue is empty, so they can be settled now.
    for (const w of this.waiters.splice(0)) {
      this.settle().then(w.resolve, w.reject);
    }
  }

  /** The final result once the queue is drained: the drop error once, then done. */
  private settle(): Promise<IteratorResult<Envelope>> {
    const err = this.state === 'ending' ? this.error : undefined;
    this.state = 'closed';
    return err ? Promise.reject(err) : Promise.resolve(DONE);
  }
}
