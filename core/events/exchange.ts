// The events exchange: publishers hand envelopes to every subscriber whose
// filters match, synchronously and in publish order, without ever waiting for a
// consumer. A subscriber whose bounded queue overflows is dropped with a
// ResourceExhausted error and reported through onDrop; nothing is lost silently.

import { BerthError, errUnavailable, isBerthError } from '../errors/catalogue.js';
import { parseFilters, type Filter } from '../filters/index.js';
import {
  envelopeAdaptor,
  freezeEnvelope,
  validateEnvelope,
  validateNamespace,
  validatePayload,
  validateTopic,
  type Envelope,
  type EventFieldLookup,
  type EventPayload,
} from './envelope.js';
import { Subscription, type SubscriptionOptions } from './subscription.js';

/** What onDrop receives; plain data (no queue references) so it can be logged. */
export interface DropInfo {
  /** Subscription.id of the dropped subscriber. */
  subscriber: number;
  filters: readonly string[];
  bufferSize: number;
  /** Envelopes the subscriber accepted before it was dropped. */
  received: number;
  /** Topic and namespace of the envelope that did not fit. */
  topic: string;
  namespace: string;
  /** The ResourceExhausted error its iterator throws once its queue is drained. */
  err: BerthError;
}

export interface ExchangeOptions {
  /** Default per-subscriber queue size (DEFAULT_BUFFER_SIZE); subscribe() may override it. */
  bufferSize?: number;
  /** Called synchronously when a subscriber is dropped; errors it throws are ignored. */
  onDrop?: (info: DropInfo) => void;
  /** Resolves `event.<path>` filter fields by decoding the event. */
  eventField?: EventFieldLookup;
}

export interface ExchangeStats {
  subscribers: number;
  published: number;
  dropped: number;
}

interface Entry {
  subscription: Subscription;
  filter: Filter;
}

export class Exchange {
  private readonly entries = new Set<Entry>();
  private readonly bySubscription = new Map<Subscription, Entry>();
  private closed = false;
  private published = 0;
  private dropped = 0;

  constructor(private readonly options: ExchangeOptions = {}) {}

  /**
   * Publishes an event as its original publisher: the envelope is stamped now.
   * Returns the envelope that was delivered.
   */
  publish(namespace: string, topic: string, event: EventPayload): Readonly<Envelope> {
    validateNamespace(namespace, 'failed publishing event');
    validateTopic(topic);
    validatePayload(event);
    const envelope = freezeEnvelope({ timestamp: new Date(), namespace, topic, event });
    this.broadcast(envelope);
    return envelope;
  }

  /** Re-publishes an envelope from a shim or peer, keeping its timestamp. */
  forward(envelope: Envelope): void {
    validateEnvelope(envelope);
    this.broadcast(freezeEnvelope(envelope));
  }

  /**
   * Subscribes to envelopes matching any of the filters (containerd filter
   * syntax over `topic` and `namespace`); no filters means every envelope.
   */
  subscribe(filters: readonly string[] = [], options: SubscriptionOptions = {}): Subscription {
    if (this.closed) throw errUnavailable('events exchange is closed');
    let filter: Filter;
    try {
      filter = parseFilters(filters);
    } catch (err) {
      if (isBerthError(err, 'InvalidArgument')) {
        throw new BerthError(
          'InvalidArgument',
          `failed parsing subscription filters: ${err.message}`,
          {
            cause: err,
          },
        );
      }
      throw err;
    }
    const subscription = new Subscription(
      [...filters],
      { ...options, bufferSize: options.bufferSize ?? this.options.bufferSize },
      (s) => this.remove(s),
    );
    if (subscription.active) {
      const entry = { subscription, filter };
      this.entries.add(entry);
      this.bySubscription.set(subscription, entry);
    }
    return subscription;
  }

  /** Ends every subscription after what it has queued; later publishes fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const { subscription } of this.entries) subscription.end();
    this.entries.clear();
    this.bySubscription.clear();
  }

  stats(): ExchangeStats {
    return { subscribers: this.entries.size, published: this.published, dropped: this.dropped };
  }

  private broadcast(envelope: Envelope): void {
    if (this.closed) throw errUnavailable('events exchange is closed');
    this.published++;
    const adaptor = envelopeAdaptor(envelope, this.options.eventField);
    // Iterating a Set is stable under deletion of the current entry.
    for (const entry of this.entries) {
      if (!entry.filter.match(adaptor)) continue;
      const sub = entry.subscription;
      if (sub.offer(envelope)) continue;
      this.remove(sub);
      this.dropped++;
      this.reportDrop({
        subscriber: sub.id,
        filters: sub.filters,
        bufferSize: sub.bufferSize,
        received: sub.received,
        topic: envelope.topic,
        namespace: envelope.namespace,
        err: sub.error!,
      });
    }
  }

  private reportDrop(info: DropInfo): void {
    try {
      this.options.onDrop?.(info);
    } catch {
      // A failing observer must not stop delivery to the other subscribers.
    }
  }

  private remove(subscription: Subscription): void {
    const entry = this.bySubscription.get(subscription);
    if (!entry) return;
    this.bySubscription.delete(subscription);
    this.entries.delete(entry);
  }
}

export {
  envelopeAdaptor,
  isUnsetTime,
  validateEnvelope,
  validateTopic,
  type Envelope,
  type EventFieldLookup,
  type EventPayload,
} from './envelope.js';
export { DEFAULT_BUFFER_SIZE, Subscription, type SubscriptionOptions } from './subscription.js';
