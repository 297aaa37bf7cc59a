import { readFileSync } from 'node:fs';
import { errInvalidArgument } from '../errors/catalogue.js';

// Linux capabilities indexed by number (include/uapi/linux/capability.h), up to
// CAP_CHECKPOINT_RESTORE (40), the last one runc 1.1 knows.
export const LINUX_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

const known = new Set(LINUX_CAPABILITIES);

/** containerd's default set for unprivileged containers (the same 14 as Docker). */
export const DEFAULT_UNIX_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export function isKnownCapability(name: string): boolean {
  return known.has(name);
}

/**
 * Normalise a capability name the way users and the CRI write them ("net_admin",
 * "NET_ADMIN", "CAP_NET_ADMIN") to the spec's form, rejecting unknown names.
 * "ALL" is passed through for callers that give it a meaning.
 */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return upper;
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!known.has(full)) throw errInvalidArgument(`unknown capability ${JSON.stringify(name)}`);
  return full;
}

/** Capability names for the set bits of a hex mask as printed in /proc/<pid>/status. */
export function capabilitiesFromMask(hexMask: string): string[] {
  const mask = BigInt(`0x${hexMask.trim()}`);
  return LINUX_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/**
 * The bounding set of the current process: what a privileged container can
 * actually be given here (containerd's WithAllCurrentCapabilities). Asking runc
 * for a capability outside it fails the container start, and some hosts withhold
 * capabilities (e.g. CAP_SYS_RESOURCE). Falls back to every known capability where
 * /proc is unavailable.
 */
export function currentBoundingCapabilities(statusPath = '/proc/self/status'): string[] {
  let status: string;
  try {
    status = readFileSync(statusPath, 'utf8');
  } catch {
    return [...LINUX_CAPABILITIES];
  }
  const line = /^CapBnd:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  return line ? capabilitiesFromMask(line[1]!) : [...LINUX_CAPABILITIES];
}
