import { posix as path } from 'node:path';
import { validateIdentifier } from '../identifiers.js';
import { DEFAULT_UNIX_CAPABILITIES } from './capabilities.js';
import type { Mount, Spec } from './spec-types.js';

/**
 * The runtime-spec version containerd 1.6 writes and runc 1.1 reports supporting
 * (`runc --version`: "spec: 1.0.2-dev"). Our types cover 1.1 fields, but runc 1.1
 * predates them, so we claim no more than it understands.
 */
export const OCI_VERSION = '1.0.2-dev';

export const DEFAULT_ROOTFS_PATH = 'rootfs';

export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/proc/scsi',
];

export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

export function defaultMounts(): Mount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    {
      destination: '/dev/mqueue',
      type: 'mqueue',
      source: 'mqueue',
      options: ['nosuid', 'noexec', 'nodev'],
    },
    {
      destination: '/sys',
      type: 'sysfs',
      source: 'sysfs',
      options: ['nosuid', 'noexec', 'nodev', 'ro'],
    },
    {
      destination: '/run',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
  ];
}

export interface DefaultSpecOptions {
  /** Container id; the last cgroup path component. */
  id: string;
  /** containerd namespace; the first cgroup path component. */
  namespace: string;
}

/**
 * A fresh default Linux spec, the same document containerd 1.6.20 builds in
 * populateDefaultUnixSpec (compare `ctr oci spec`). Like containerd it carries no
 * env: PATH comes from the image config (withImageConfig) or withDefaultPathEnv,
 * so an image's own PATH is never overridden by a default.
 */
export function defaultSpec({ id, namespace }: DefaultSpecOptions): Spec {
  // Both become cgroup path components, so they must be plain identifiers.
  validateIdentifier(namespace);
  validateIdentifier(id);
  const caps = () => [...DEFAULT_UNIX_CAPABILITIES];
  return {
    ociVersion: OCI_VERSION,
    process: {
      user: { uid: 0, gid: 0 },
      cwd: '/',
      capabilities: { bounding: caps(), effective: caps(), permitted: caps() },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: DEFAULT_ROOTFS_PATH },
    mounts: defaultMounts(),
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      cgroupsPath: path.join('/', namespace, id),
      namespaces: [
        { type: 'pid' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        { type: 'network' },
      ],
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
    },
  };
}
