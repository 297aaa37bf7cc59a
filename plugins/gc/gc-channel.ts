// Each finished garbage collection, published for metrics. Nothing is built
// unless someone subscribes.

import { channel } from 'node:diagnostics_channel';
import type { CollectResult } from '../../core/metadata/gc/collector.js';

export interface GcRunMessage {
  /** The collection's result; undefined when it failed as a whole. */
  result?: CollectResult;
  error?: unknown;
}

export const gcRunChannel = channel('berth:gc:run');

export function publishGcRun(msg: () => GcRunMessage): void {
  if (gcRunChannel.hasSubscribers) gcRunChannel.publish(msg());
}
