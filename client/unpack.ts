// Unpacking an image from the client, as containerd's client does it: the
// image's layers go through the daemon's Diff service into snapshots named by
// chain ID (core/images/unpack.ts holds the steps), under a lease.

import type { PlatformMatcher } from '../core/images/oci/platform.js';
import type { Descriptor } from '../core/images/oci/types.js';
import { isImageUnpacked, unpackImage, type UnpackResult } from '../core/images/unpack.js';
import type { Client } from './client.js';
import { applierOf, contentOf, snapshotsOf } from './image-deps.js';
import { withLease } from './leased.js';

export interface UnpackOptions {
  /** Default: the client's default snapshotter (BERTH_SNAPSHOTTER or overlayfs). */
  snapshotter?: string;
  platform?: PlatformMatcher;
  signal?: AbortSignal;
  onLayer?: (e: { index: number; chainId: string; applied: boolean }) => void;
}

/** Unpacks `target` with a client that already carries a lease. */
export function unpackWith(
  leased: Client,
  target: Descriptor,
  opts: UnpackOptions = {},
): Promise<UnpackResult> {
  const snapshotter = leased.snapshots(opts.snapshotter).snapshotter;
  return unpackImage(
    target,
    {
      content: contentOf(leased),
      snapshots: snapshotsOf(leased, snapshotter),
      applier: applierOf(leased),
    },
    {
      platform: opts.platform,
      scope: `${leased.address}/${leased.namespace}`,
      signal: opts.signal,
      onLayer: opts.onLayer,
    },
  );
}

/** Unpacks the image `target` (an image record's target) under a lease of its own. */
export function unpack(
  client: Client,
  target: Descriptor,
  opts: UnpackOptions = {},
): Promise<UnpackResult> {
  return withLease(client, (leased) => unpackWith(leased, target, opts));
}

/** Whether the image's top layer snapshot exists in the snapshotter. */
export function isUnpacked(
  client: Client,
  target: Descriptor,
  opts: Pick<UnpackOptions, 'snapshotter' | 'platform'> = {},
): Promise<boolean> {
  const snapshotter = client.snapshots(opts.snapshotter).snapshotter;
  return isImageUnpacked(
    target,
    { content: contentOf(client), snapshots: snapshotsOf(client, snapshotter) },
    opts.platform,
  );
}
