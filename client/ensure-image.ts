// The one place `berth run IMAGE` gets its image: present locally, or else
// pulled from its registry (hosts.toml under BERTH_HOSTS_DIR or
// /etc/berth/certs.d). The pull only fetches and records; the container's
// snapshotter unpacks it when the container is created.

import { isNotFound } from '../core/errors/catalogue.js';
import { normalizeReference } from '../core/images/registry/reference.js';
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
  // getImage also tried the full name (busybox → docker.io/library/busybox:latest).
  try {
    normalizeReference(ref);
  } catch {
    return getImage(client, ref); // not a registry reference: report the missing local image
  }
  const pulled = await fetchImage(client, ref, {
    hostsDir: process.env.BERTH_HOSTS_DIR,
    ...pullOpts,
  });
  return getImage(client, pulled.name);
}
