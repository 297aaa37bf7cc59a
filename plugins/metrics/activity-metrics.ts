// Counters for the daemon's background work, from their channels: garbage
// collections (runs and the bytes of blobs they freed) and image pulls (bytes
// fetched from registries and how long each pull took).

import {
  type PullBytesMessage,
  type PullMessage,
  pullBytesChannel,
  pullChannel,
} from '../../core/images/pull-channel.js';
import { type GcRunMessage, gcRunChannel } from '../gc/gc-channel.js';
import type { Registry } from './registry.js';

/** Pull durations, seconds: a cached sandbox image to a large image on a slow link. */
export const PULL_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export function recordActivity(registry: Registry): () => void {
  const gcRuns = registry.counter(
    'berth_gc_runs_total',
    'Garbage collections run, by result (ok, or error when the collection failed as a whole).',
    ['result'],
  );
  const gcBytes = registry.counter(
    'berth_gc_reclaimed_bytes_total',
    'Bytes of content blobs removed by garbage collection.',
  );
  const pullBytes = registry.counter(
    'berth_pull_bytes_total',
    'Bytes of blobs fetched from registries and stored by image pulls.',
  );
  const pullSeconds = registry.histogram(
    'berth_pull_seconds',
    'Duration of image pulls (seconds), by result (ok or error).',
    ['result'],
    PULL_BUCKETS,
  );
  const onGc = (m: unknown) => {
    const { result } = m as GcRunMessage;
    gcRuns.inc([result ? 'ok' : 'error']);
    if (result) gcBytes.inc([], result.blobBytes);
  };
  const onPull = (m: unknown) => {
    const { seconds, error } = m as PullMessage;
    pullSeconds.observe([error === undefined ? 'ok' : 'error'], seconds);
  };
  const onPullBytes = (m: unknown) => pullBytes.inc([], (m as PullBytesMessage).bytes);
  gcRunChannel.subscribe(onGc);
  pullChannel.subscribe(onPull);
  pullBytesChannel.subscribe(onPullBytes);
  return () => {
    gcRunChannel.unsubscribe(onGc);
    pullChannel.unsubscribe(onPull);
    pullBytesChannel.unsubscribe(onPullBytes);
  };
}
