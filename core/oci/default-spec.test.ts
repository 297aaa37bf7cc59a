import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/catalogue.js';
import { DEFAULT_UNIX_CAPABILITIES } from './capabilities.js';
import { defaultSpec, OCI_VERSION } from './default-spec.js';

// `ctr oci spec` from containerd 1.6.20 (Debian 1.6.20~ds1), namespace "default":
// the document defaultSpec must reproduce, apart from the cgroup path.
const containerd1620 = {
  ociVersion: '1.0.2-dev',
  process: {
    user: { uid: 0, gid: 0 },
    cwd: '/',
    capabilities: {
      bounding: [...DEFAULT_UNIX_CAPABILITIES],
      effective: [...DEFAULT_UNIX_CAPABILITIES],
      permitted: [...DEFAULT_UNIX_CAPABILITIES],
    },
    rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
    noNewPrivileges: true,
  },
  root: { path: 'rootfs' },
  mounts: [
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
  ],
  linux: {
    resources: { devices: [{ allow: false, access: 'rwm' }] },
    cgroupsPath: '/default/web-1',
    namespaces: [
      { type: 'pid' },
      { type: 'ipc' },
      { type: 'uts' },
      { type: 'mount' },
      { type: 'network' },
    ],
    maskedPaths: [
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
    ],
    readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
  },
};

describe('defaultSpec', () => {
  it("matches containerd 1.6.20's default Linux spec", () => {
    const spec = defaultSpec({ id: 'web-1', namespace: 'default' });
    // JSON round trip: what runc reads, with no undefined-valued keys hiding.
    expect(JSON.parse(JSON.stringify(spec))).toEqual(containerd1620);
    expect(spec.ociVersion).toBe(OCI_VERSION);
  });

  it('has 14 default capabilities and no env, hostname or seccomp', () => {
    const spec = defaultSpec({ id: 'a', namespace: 'ns' });
    expect(spec.process?.capabilities?.bounding).toHaveLength(14);
    expect(spec.process?.env).toBeUndefined();
    expect(spec.hostname).toBeUndefined();
    expect(spec.linux?.seccomp).toBeUndefined();
    expect(spec.linux?.cgroupsPath).toBe('/ns/a');
  });

  it('returns independent objects', () => {
    const a = defaultSpec({ id: 'a', namespace: 'ns' });
    a.mounts![0]!.options!.push('ro');
    a.process!.capabilities!.bounding!.pop();
    a.linux!.maskedPaths!.length = 0;
    const b = defaultSpec({ id: 'a', namespace: 'ns' });
    expect(b.mounts![0]!.options).toEqual(['nosuid', 'noexec', 'nodev']);
    expect(b.process!.capabilities!.bounding).toHaveLength(14);
    expect(b.linux!.maskedPaths).toHaveLength(10);
  });

  it('rejects ids and namespaces that would escape the cgroup path', () => {
    for (const bad of [
      { id: '../x', namespace: 'ns' },
      { id: 'a', namespace: '..' },
      { id: 'a/b', namespace: 'ns' },
      { id: 'a', namespace: '' },
    ]) {
      let err: unknown;
      try {
        defaultSpec(bad);
      } catch (e) {
        err = e;
      }
      expect(isBerthError(err, 'InvalidArgument'), JSON.stringify(bad)).toBe(true);
    }
  });
});
