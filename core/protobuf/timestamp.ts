import type { Timestamp } from '../../api/gen/google/protobuf/timestamp.js';

// Go's zero time (0001-01-01T00:00:00Z): containerd 1.6 sends it for "unset".
const GO_ZERO_SECONDS = -62135596800;

export function toTimestamp(d: Date): Timestamp {
  const ms = d.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** Timestamp with nanosecond precision from a bigint of nanoseconds since the epoch. */
export function timestampFromNanos(ns: bigint): Timestamp {
  const seconds = ns / 1_000_000_000n;
  return { seconds: Number(seconds), nanos: Number(ns - seconds * 1_000_000_000n) };
}

export function nowTimestamp(): Timestamp {
  return timestampFromNanos(
    BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n),
  );
}

/** Date from a Timestamp; undefined for absent, zero-epoch-unset or Go's zero time. */
export function fromTimestamp(t: Timestamp | undefined): Date | undefined {
  if (!t || t.seconds === GO_ZERO_SECONDS) return undefined;
  return new Date(t.seconds * 1000 + Math.floor(t.nanos / 1_000_000));
}

export function isUnsetTimestamp(t: Timestamp | undefined): boolean {
  return !t || t.seconds === GO_ZERO_SECONDS || (t.seconds === 0 && t.nanos === 0);
}
