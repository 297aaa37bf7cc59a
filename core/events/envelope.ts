// The event envelope as it travels through the exchange, and the rules an
// envelope must satisfy (containerd's events/exchange validation).

import { errInvalidArgument } from '../errors/catalogue.js';
import { validateIdentifier } from '../identifiers.js';
import type { Adaptor, FieldValue } from '../filters/index.js';

/** google.protobuf.Any holding the encoded event, e.g. `containerd.events.TaskExit`. */
export interface EventPayload {
  typeUrl: string;
  value: Uint8Array;
}

export interface Envelope {
  /** When the original publisher published it (millisecond precision). */
  timestamp: Date;
  namespace: string;
  topic: string;
  event: EventPayload;
}

/** Looks up `event.<path>` inside a decoded event; supplied by whoever knows the types. */
export type EventFieldLookup = (event: EventPayload, fieldpath: string[]) => FieldValue;

// Go's zero time.Time (0001-01-01T00:00:00Z), which containerd 1.6 (gogo
// stdtime, non-nullable) sends for a timestamp that was never set.
const GO_ZERO_TIME_MS = -62135596800000;

/** Unset timestamps arrive as the Unix epoch (absent field) or as Go's zero time. */
export function isUnsetTime(t: Date | undefined): boolean {
  if (!(t instanceof Date)) return true;
  const ms = t.getTime();
  return Number.isNaN(ms) || ms === 0 || ms === GO_ZERO_TIME_MS;
}

// Error messages from validateIdentifier already end in the catalogue suffix.
function reasonOf(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/: invalid argument$/, '');
}

/** A topic is `/` followed by one or more `/`-separated identifiers, e.g. `/tasks/exit`. */
export function validateTopic(topic: string): void {
  const fail = (reason: string) =>
    errInvalidArgument(`envelope topic ${JSON.stringify(topic)}: ${reason}`);
  if (typeof topic !== 'string' || topic === '') throw fail('must not be empty');
  if (topic[0] !== '/') throw fail("must start with '/'");
  if (topic.length === 1) throw fail('must have at least one component');
  for (const component of topic.slice(1).split('/')) {
    try {
      validateIdentifier(component);
    } catch (err) {
      throw fail(`failed validation on component ${JSON.stringify(component)}: ${reasonOf(err)}`);
    }
  }
}

export function validateNamespace(namespace: string, context: string): void {
  try {
    validateIdentifier(namespace);
  } catch (err) {
    throw errInvalidArgument(`${context}: ${reasonOf(err)}`, { cause: err });
  }
}

/** Checks an envelope received from a shim or peer before it is forwarded. */
export function validateEnvelope(envelope: Envelope): void {
  if (!envelope || typeof envelope !== 'object') throw errInvalidArgument('event envelope missing');
  validateNamespace(envelope.namespace, 'event envelope has invalid namespace');
  validateTopic(envelope.topic);
  if (isUnsetTime(envelope.timestamp)) {
    throw errInvalidArgument('timestamp must be set on forwarded event');
  }
  validatePayload(envelope.event);
}

export function validatePayload(event: EventPayload): void {
  if (!event || typeof event.typeUrl !== 'string' || !(event.value instanceof Uint8Array)) {
    throw errInvalidArgument('event must be an Any with a type URL and bytes');
  }
}

/** A frozen copy, so one object can be shared by every subscriber. */
export function freezeEnvelope(e: Envelope): Readonly<Envelope> {
  return Object.freeze({
    // A private copy: the caller keeps its own (mutable) Date.
    timestamp: new Date(e.timestamp.getTime()),
    namespace: e.namespace,
    topic: e.topic,
    event: Object.freeze({ typeUrl: e.event.typeUrl, value: e.event.value }),
  });
}

const absent: FieldValue = { value: '', present: false };

/**
 * Filter fields of an envelope, as in containerd: `topic`, `namespace`, and
 * `event.<path>` when a lookup for decoded events is supplied.
 */
export function envelopeAdaptor(envelope: Envelope, eventField?: EventFieldLookup): Adaptor {
  return (fieldpath) => {
    switch (fieldpath[0]) {
      case 'topic':
        return { value: envelope.topic, present: envelope.topic.length > 0 };
      case 'namespace':
        return { value: envelope.namespace, present: envelope.namespace.length > 0 };
      case 'event':
        if (!eventField || fieldpath.length < 2) return absent;
        try {
          return eventField(envelope.event, fieldpath.slice(1));
        } catch {
          // An event that cannot be decoded has no fields; it must not break the fan-out.
          return absent;
        }
    }
    return absent;
  };
}
