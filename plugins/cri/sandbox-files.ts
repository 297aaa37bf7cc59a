// A pod's own files: /etc/hostname, /etc/hosts and /etc/resolv.conf for its
// containers, and the tmpfs behind its /dev/shm.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { errInvalidArgument } from '../../core/errors/catalogue.js';
import type { DNSConfig } from '../../api/gen/cri/runtime/v1/api.js';
import { MNT, MS, mount, umount2 } from '../../native/index.js';

const HOSTS = `127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
fe00::0\tip6-mcastprefix
fe00::1\tip6-allnodes
fe00::2\tip6-allrouters
`;

export function resolvConf(dns: DNSConfig): string {
  const lines: string[] = [];
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(' ')}`);
  for (const s of dns.servers) lines.push(`nameserver ${s}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

export interface PodFilesOptions {
  hostname: string;
  hostNetwork: boolean;
  dns?: DNSConfig;
}

export async function writePodFiles(dir: string, o: PodFilesOptions): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o711 });
  const hostname = o.hostNetwork ? os.hostname() : o.hostname;
  if (hostname.includes('/') || hostname.includes('\n')) {
    throw errInvalidArgument(`config.hostname ${JSON.stringify(hostname)} is not a valid hostname`);
  }
  await fs.writeFile(path.join(dir, 'hostname'), `${hostname}\n`, { mode: 0o644 });
  const hosts = o.hostNetwork ? await fs.readFile('/etc/hosts', 'utf8').catch(() => HOSTS) : HOSTS;
  await fs.writeFile(path.join(dir, 'hosts'), hosts, { mode: 0o644 });
  const resolv =
    o.dns && (o.dns.servers.length > 0 || o.dns.searches.length > 0 || o.dns.options.length > 0)
      ? resolvConf(o.dns)
      : await fs.readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  await fs.writeFile(path.join(dir, 'resolv.conf'), resolv, { mode: 0o644 });
}

/** Mounts a tmpfs of `size` bytes at `<dir>/shm` and returns its path. */
export async function mountShm(dir: string, size: number): Promise<string> {
  const shm = path.join(dir, 'shm');
  await fs.mkdir(shm, { recursive: true, mode: 0o1777 });
  mount('shm', shm, 'tmpfs', MS.NOSUID | MS.NODEV | MS.NOEXEC, `mode=1777,size=${size}`);
  return shm;
}

/** Unmounts the shm (if mounted) and removes the pod directory. */
export async function removePodFiles(dir: string): Promise<void> {
  try {
    umount2(path.join(dir, 'shm'), MNT.DETACH);
  } catch {
    /* not mounted */
  }
  await fs.rm(dir, { recursive: true, force: true });
}
