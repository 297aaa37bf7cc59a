// The one place `berth run IMAGE` gets its image: present locally, or else
// pulled from its registry (hosts.toml under BERTH_HOSTS_DIR or
// /etc/berth/certs.d). The pull only fetches and records; the container's
// snapshotter unpacks it when the container is created.

import { isNotFound } from '../errors.js';
import { normalizeReference } from '../../plugins/images/registry/reference.js';
import type { Client } from './client.js';
import { type ClientImage, getImage } from './image.js';
import { fetchImage, type PullOptions } from './pull.js';

export async function ensureImage(
  client: Client,
  ref: string,
  pullOpts: PullOptions = {},
): Promise<ClientImage> {
  try {
    return await getImage(client, ref);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  // A short name may be recorded under its full name (busybox → docker.io/library/busybox:latest).
  let full: string | undefined;
  try {
    full = normalizeReference(ref);
  } catch {
    // not a registry reference: report the missing local image below
  }
  if (full && full !== ref) {
    try {
      return await getImage(client, full);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  if (!full) return getImage(client, ref);
  const pulled = await fetchImage(client, ref, {
    hostsDir: process.env.BERTH_HOSTS_DIR,
    ...pullOpts,
  });
  return getImage(client, pulled.name);
}
