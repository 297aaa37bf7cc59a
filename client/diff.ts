// The Diff service from the client: apply a layer blob onto mounts, or write
// the difference between two sets of mounts as a layer blob.

import { DiffClient } from '../api/gen/containerd/services/diff/v1/diff.js';
import type { Descriptor } from '../api/gen/containerd/types/descriptor.js';
import type { Mount } from '../api/gen/containerd/types/mount.js';
import type { CallSite } from './connection.js';

export function diffApi(c: CallSite) {
  return {
    /** Applies the layer `diff` (in the content store) onto `mounts`; returns the uncompressed descriptor. */
    apply: async (
      diff: Pick<Descriptor, 'mediaType' | 'digest' | 'size'> & {
        annotations?: Record<string, string>;
      },
      mounts: Mount[],
      signal?: AbortSignal,
    ): Promise<Descriptor> =>
      (
        await c.call<{ applied: Descriptor }>(
          DiffClient,
          'apply',
          { diff: { ...diff, annotations: diff.annotations ?? {} }, mounts, payloads: {} },
          { signal, timeoutMs: undefined },
        )
      ).applied,
    /** The changes from `left` (may be empty) to `right` as a layer blob in the content store. */
    diff: async (
      left: Mount[],
      right: Mount[],
      opts: { mediaType?: string; ref?: string; labels?: Record<string, string> } = {},
    ): Promise<Descriptor> =>
      (
        await c.call<{ diff: Descriptor }>(
          DiffClient,
          'diff',
          {
            left,
            right,
            mediaType: opts.mediaType ?? '',
            ref: opts.ref ?? '',
            labels: opts.labels ?? {},
          },
          { timeoutMs: undefined },
        )
      ).diff,
  };
}

export type DiffApi = ReturnType<typeof diffApi>;
