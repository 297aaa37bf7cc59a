// Work that creates content or snapshots runs under a lease, so the collector
// leaves it alone until an image or container refers to it. A leased client
// is a second client whose every call carries the `containerd-lease` header;
// it has no per-call deadline, since layer application may take long.

import { Client } from './client.js';
import type { CallOptions } from './connection.js';

/** containerd's client leases expire after a day: a crashed client's work is collected eventually. */
export const DEFAULT_LEASE_EXPIRY_MS = 24 * 60 * 60 * 1000;

export class LeasedClient extends Client {
  constructor(
    base: Client,
    readonly lease: string,
  ) {
    // Same connection as the base client: a lease is a header, not a channel.
    super({ address: base.address, namespace: base.namespace }, base.sharedConnection());
  }

  override opts(extra: Partial<CallOptions> = {}): CallOptions {
    return super.opts({ lease: this.lease, ...extra });
  }
}

/**
 * Runs `fn` with a client under a new lease, deleting the lease afterwards
 * (whatever `fn` made is then kept only by what refers to it).
 */
export async function withLease<T>(
  client: Client,
  fn: (leased: LeasedClient) => Promise<T>,
  opts: { expiresInMs?: number; labels?: Record<string, string> } = {},
): Promise<T> {
  const lease = await client.leases.create({
    expiresInMs: opts.expiresInMs ?? DEFAULT_LEASE_EXPIRY_MS,
    labels: opts.labels,
  });
  const leased = new LeasedClient(client, lease.id);
  try {
    return await fn(leased);
  } finally {
    leased.close();
    await client.leases.delete(lease.id).catch(() => undefined);
  }
}
