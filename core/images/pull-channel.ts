// Image pulls as diagnostics channels, for metrics: each finished pull with its
// duration, and the bytes fetched from registries as they are stored. The pull
// code calls the two helpers; they cost one `hasSubscribers` check when nobody
// listens.

import { channel } from 'node:diagnostics_channel';

export interface PullMessage {
  ref: string;
  seconds: number;
  error?: unknown;
}

export interface PullBytesMessage {
  bytes: number;
}

export const pullChannel = channel('berth:image:pull');
export const pullBytesChannel = channel('berth:image:pull:bytes');

/** Runs one pull of `ref`, published with its duration once it settles. */
export async function observePull<T>(ref: string, run: () => Promise<T>): Promise<T> {
  if (!pullChannel.hasSubscribers) return run();
  const t0 = performance.now();
  const seconds = () => (performance.now() - t0) / 1000;
  try {
    const out = await run();
    pullChannel.publish({ ref, seconds: seconds() } satisfies PullMessage);
    return out;
  } catch (error) {
    pullChannel.publish({ ref, seconds: seconds(), error } satisfies PullMessage);
    throw error;
  }
}

/** A blob fetched from a registry was stored: `bytes` came over the network. */
export function countPulledBytes(bytes: number): void {
  if (pullBytesChannel.hasSubscribers) {
    pullBytesChannel.publish({ bytes } satisfies PullBytesMessage);
  }
}
