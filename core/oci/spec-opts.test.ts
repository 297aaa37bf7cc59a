import { describe, expect, it } from 'vitest';
import { LINUX_CAPABILITIES } from './capabilities.js';
import { defaultSpec } from './default-spec.js';
import { DEFAULT_UNIX_ENV } from './env.js';
import {
  compose,
  parseNumericUser,
  withAddedCapabilities,
  withAllDevicesAllowed,
  withAnnotations,
  withCapabilities,
  withCgroupsPath,
  withCPUPeriod,
  withCPUQuota,
  withCpuset,
  withCPUShares,
  withDefaultPathEnv,
  withDevices,
  withDroppedCapabilities,
  withEnv,
  withHostNamespace,
  withHostname,
  withImageConfig,
  withMaskedPaths,
  withMemoryLimit,
  withMounts,
  withNamespace,
  withNamespacePath,
  withNoNewPrivileges,
  withoutMounts,
  withOOMScoreAdj,
  withPidsLimit,
  withPrivileged,
  withProcessArgs,
  withProcessCwd,
  withReadonlyPaths,
  withRlimit,
  withRootfs,
  withSeccompProfile,
  withSysctls,
  withTTY,
  withUser,
  type SpecOpt,
} from './spec-opts.js';
import type { LinuxNamespaceType, LinuxSeccomp, Spec } from './spec-types.js';

const base = () => defaultSpec({ id: 'c1', namespace: 'default' });
const apply = (...opts: SpecOpt[]): Spec => {
  const s = base();
  for (const o of opts) o(s);
  return s;
};
const invalid = expect.objectContaining({ code: 'InvalidArgument' });

describe('process options', () => {
  it('sets args, cwd, hostname and tty', () => {
    const s = apply(
      withProcessArgs('/bin/sh', '-c', 'echo ok'),
      withProcessCwd('/work'),
      withHostname('box'),
      withTTY(),
    );
    expect(s.process?.args).toEqual(['/bin/sh', '-c', 'echo ok']);
    expect(s.process?.cwd).toBe('/work');
    expect(s.hostname).toBe('box');
    expect(s.process?.terminal).toBe(true);
    expect(s.process?.env).toEqual(['TERM=xterm']);
  });

  it('merges env by key, later wins, across options', () => {
    const s = apply(
      withDefaultPathEnv,
      withEnv(['A=1', 'B=2']),
      withEnv(['A=3', 'PATH=/bin']),
      withEnv(['B']),
    );
    expect(s.process?.env).toEqual(['PATH=/bin', 'A=3']);
  });

  it('sets the user, replacing additional gids', () => {
    const s = apply(withUser(1000, 100, [100, 27]));
    expect(s.process?.user).toEqual({ uid: 1000, gid: 100, additionalGids: [100, 27] });
    withUser(0, 0)(s);
    expect(s.process?.user).toEqual({ uid: 0, gid: 0 });
    expect(() => withUser(-1, 0)(s)).toThrow(invalid);
    expect(() => withUser(1.5, 0)(s)).toThrow(invalid);
  });

  it('sets no_new_privs, oom score and rlimits', () => {
    const s = apply(
      withNoNewPrivileges(false),
      withOOMScoreAdj(-500),
      withRlimit('nofile', 4096, 8192),
      withRlimit('RLIMIT_NPROC', 10, 10),
    );
    expect(s.process?.noNewPrivileges).toBe(false);
    expect(s.process?.oomScoreAdj).toBe(-500);
    expect(s.process?.rlimits).toEqual([
      { type: 'RLIMIT_NOFILE', hard: 8192, soft: 4096 },
      { type: 'RLIMIT_NPROC', hard: 10, soft: 10 },
    ]);
    expect(() => withOOMScoreAdj(1001)(s)).toThrow(invalid);
    expect(() => withRlimit('RLIMIT_BOGUS', 1, 1)(s)).toThrow(invalid);
    expect(() => withRlimit('nofile', 2, 1)(s)).toThrow(invalid);
  });

  it('works on a spec without a process section', () => {
    const s: Spec = { ociVersion: '1.0.2-dev' };
    compose(withEnv(['A=1']), withProcessArgs('true'))(s);
    expect(s.process).toEqual({ user: { uid: 0, gid: 0 }, cwd: '/', env: ['A=1'], args: ['true'] });
  });
});

describe('capability options', () => {
  it('replaces the sets with normalised, deduplicated names', () => {
    const s = apply(withCapabilities(['chown', 'CAP_KILL', 'kill']));
    expect(s.process?.capabilities).toEqual({
      bounding: ['CAP_CHOWN', 'CAP_KILL'],
      effective: ['CAP_CHOWN', 'CAP_KILL'],
      permitted: ['CAP_CHOWN', 'CAP_KILL'],
    });
  });

  it('adds and drops', () => {
    const s = apply(
      withAddedCapabilities(['net_admin', 'CAP_CHOWN']),
      withDroppedCapabilities(['mknod', 'NET_RAW']),
    );
    for (const set of [
      s.process!.capabilities!.bounding!,
      s.process!.capabilities!.effective!,
      s.process!.capabilities!.permitted!,
    ]) {
      expect(set).toContain('CAP_NET_ADMIN');
      expect(set).not.toContain('CAP_MKNOD');
      expect(set).not.toContain('CAP_NET_RAW');
      expect(set.filter((c) => c === 'CAP_CHOWN')).toHaveLength(1);
      expect(set).toHaveLength(13);
    }
  });

  it('understands ALL', () => {
    const all = apply(withAddedCapabilities(['ALL']));
    expect(all.process?.capabilities?.bounding).toHaveLength(LINUX_CAPABILITIES.length);
    const none = apply(withDroppedCapabilities(['all']));
    expect(none.process?.capabilities).toEqual({ bounding: [], effective: [], permitted: [] });
    expect(() => apply(withCapabilities(['ALL']))).toThrow(invalid);
  });

  it('rejects unknown capabilities before touching the spec', () => {
    const s = base();
    expect(() => withAddedCapabilities(['CAP_FLY'])(s)).toThrow(invalid);
    expect(() => withDroppedCapabilities(['nope'])(s)).toThrow(invalid);
    expect(s.process?.capabilities?.bounding).toHaveLength(14);
  });
});

describe('privileged', () => {
  it('grants the given capabilities and removes confinement', () => {
    const seccomp: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ERRNO' };
    const s = apply(withSeccompProfile(seccomp), withPrivileged([...LINUX_CAPABILITIES]));
    expect(s.process?.capabilities?.bounding).toEqual(LINUX_CAPABILITIES);
    expect(s.process?.capabilities?.effective).toEqual(LINUX_CAPABILITIES);
    expect(s.linux?.maskedPaths).toBeUndefined();
    expect(s.linux?.readonlyPaths).toBeUndefined();
    expect(s.linux?.seccomp).toBeUndefined();
    expect(s.linux?.resources?.devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(s.mounts?.find((m) => m.destination === '/sys')?.options).toEqual([
      'nosuid',
      'noexec',
      'nodev',
      'rw',
    ]);
    const json = JSON.stringify(s);
    expect(json).not.toContain('apparmorProfile');
    expect(json).not.toContain('selinuxLabel');
  });

  it("defaults to this process's bounding set", () => {
    const s = apply(withPrivileged());
    const bounding = s.process?.capabilities?.bounding ?? [];
    expect(bounding.length).toBeGreaterThan(14);
    expect(bounding.every((c) => LINUX_CAPABILITIES.includes(c))).toBe(true);
  });
});

describe('rootfs and mounts', () => {
  it('sets the rootfs', () => {
    expect(apply(withRootfs('/run/b/rootfs', true)).root).toEqual({
      path: '/run/b/rootfs',
      readonly: true,
    });
    expect(apply(withRootfs('rootfs')).root).toEqual({ path: 'rootfs' });
  });

  it('appends mounts and replaces ones at the same destination', () => {
    const s = apply(
      withMounts([
        { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro'] },
        { destination: '/dev/shm/', type: 'bind', source: '/sandbox/shm', options: ['rbind'] },
      ]),
    );
    const dests = s.mounts!.map((m) => m.destination);
    expect(dests).toEqual([
      '/proc',
      '/dev',
      '/dev/pts',
      '/dev/mqueue',
      '/sys',
      '/run',
      '/data',
      '/dev/shm/',
    ]);
    expect(s.mounts!.at(-1)!.source).toBe('/sandbox/shm');
    withMounts([{ destination: '/data', type: 'bind', source: '/other', options: ['rbind'] }])(s);
    expect(s.mounts!.filter((m) => m.destination === '/data')).toEqual([
      { destination: '/data', type: 'bind', source: '/other', options: ['rbind'] },
    ]);
    withoutMounts('/run', '/data/')(s);
    expect(s.mounts!.map((m) => m.destination)).not.toContain('/run');
    expect(s.mounts!.map((m) => m.destination)).not.toContain('/data');
  });
});

describe('namespaces', () => {
  it('joins, drops and adds namespaces', () => {
    const s = apply(
      withNamespacePath('network', '/var/run/netns/cni-1'),
      withHostNamespace('pid'),
      withNamespace('cgroup'),
      withNamespace('ipc'),
    );
    expect(s.linux?.namespaces).toEqual([
      { type: 'ipc' },
      { type: 'uts' },
      { type: 'mount' },
      { type: 'network', path: '/var/run/netns/cni-1' },
      { type: 'cgroup' },
    ]);
  });

  it('rejects unknown types and relative paths', () => {
    const s = base();
    expect(() => withNamespace('bogus' as LinuxNamespaceType)(s)).toThrow(invalid);
    expect(() => withNamespacePath('net' as LinuxNamespaceType, '/proc/1/ns/net')(s)).toThrow(
      invalid,
    );
    expect(() => withNamespacePath('network', 'proc/1/ns/net')(s)).toThrow(invalid);
  });
});

describe('resources and linux settings', () => {
  it('sets cgroup resources without losing earlier ones', () => {
    const s = apply(
      withMemoryLimit(64 << 20),
      withCPUShares(512),
      withCPUQuota(50_000),
      withCPUPeriod(100_000),
      withCpuset('0-1,3', '0'),
      withPidsLimit(32),
      withCgroupsPath('/k8s/pod1/c1'),
    );
    expect(s.linux?.resources).toEqual({
      devices: [{ allow: false, access: 'rwm' }],
      memory: { limit: 64 << 20 },
      cpu: { shares: 512, quota: 50_000, period: 100_000, cpus: '0-1,3', mems: '0' },
      pids: { limit: 32 },
    });
    expect(s.linux?.cgroupsPath).toBe('/k8s/pod1/c1');
    expect(() => withMemoryLimit(-2)(s)).toThrow(invalid);
    expect(() => withCpuset('0-')(s)).toThrow(invalid);
    expect(() => withPidsLimit(-5)(s)).toThrow(invalid);
  });

  it('merges annotations and sysctls, replaces masked and read-only paths', () => {
    const s = apply(
      withAnnotations({ a: '1' }),
      withAnnotations({ b: '2', a: '3' }),
      withSysctls({ 'net.ipv4.ip_forward': '1' }),
      withMaskedPaths(['/proc/kcore']),
      withReadonlyPaths([]),
    );
    expect(s.annotations).toEqual({ a: '3', b: '2' });
    expect(s.linux?.sysctl).toEqual({ 'net.ipv4.ip_forward': '1' });
    expect(s.linux?.maskedPaths).toEqual(['/proc/kcore']);
    expect(s.linux?.readonlyPaths).toBeUndefined();
  });

  it('adds devices with matching device cgroup rules', () => {
    const s = apply(
      withDevices([
        { path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666 },
        { path: '/dev/loop0', type: 'b', major: 7, minor: 0 },
      ]),
      withDevices([{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }], 'rw'),
    );
    expect(s.linux?.devices).toEqual([
      { path: '/dev/loop0', type: 'b', major: 7, minor: 0 },
      { path: '/dev/fuse', type: 'c', major: 10, minor: 229 },
    ]);
    expect(s.linux?.resources?.devices).toEqual([
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' },
      { allow: true, type: 'b', major: 7, minor: 0, access: 'rwm' },
      { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' },
    ]);
    expect(() => withDevices([], 'x')(s)).toThrow(invalid);
    withAllDevicesAllowed(s);
    expect(s.linux?.resources?.devices).toEqual([{ allow: true, access: 'rwm' }]);
  });

  it('stores a copy of the seccomp profile and clears it for unconfined', () => {
    const profile: LinuxSeccomp = {
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }],
    };
    const s = apply(withSeccompProfile(profile));
    expect(s.linux?.seccomp).toEqual(profile);
    profile.syscalls![0]!.names.push('ptrace');
    expect(s.linux?.seccomp?.syscalls?.[0]?.names).toEqual(['read', 'write']);
    withSeccompProfile(undefined)(s);
    expect(s.linux && 'seccomp' in s.linux).toBe(false);
  });
});

describe('image config', () => {
  it('applies entrypoint, cmd, workdir, env and numeric user', () => {
    const s = apply(
      withEnv(['FOO=override']),
      withImageConfig({
        Env: ['PATH=/usr/local/go/bin:/usr/bin', 'FOO=image', 'BAR=image'],
        Entrypoint: ['/entry.sh'],
        Cmd: ['serve', '--port', '80'],
        WorkingDir: '/app',
        User: '1000:50',
      }),
    );
    expect(s.process?.args).toEqual(['/entry.sh', 'serve', '--port', '80']);
    expect(s.process?.cwd).toBe('/app');
    // The image env is the base; what the spec already had wins.
    expect(s.process?.env).toEqual([
      'PATH=/usr/local/go/bin:/usr/bin',
      'FOO=override',
      'BAR=image',
    ]);
    expect(s.process?.user).toEqual({ uid: 1000, gid: 50, additionalGids: [50] });
  });

  it('falls back to the default PATH, "/" and the existing user', () => {
    const s = apply(withImageConfig({ Cmd: ['sh'] }));
    expect(s.process?.env).toEqual([...DEFAULT_UNIX_ENV]);
    expect(s.process?.args).toEqual(['sh']);
    expect(s.process?.cwd).toBe('/');
    expect(s.process?.user).toEqual({ uid: 0, gid: 0 });
  });

  it('needs names resolved against the rootfs', () => {
    expect(() => apply(withImageConfig({ User: 'nginx' }))).toThrow(invalid);
    const s = apply(
      withImageConfig({ User: 'nginx' }, { user: { uid: 101, gid: 101, additionalGids: [101] } }),
    );
    expect(s.process?.user).toEqual({ uid: 101, gid: 101, additionalGids: [101] });
  });

  it('parses numeric users', () => {
    expect(parseNumericUser('1000')).toEqual({ uid: 1000, gid: 0 });
    expect(parseNumericUser('1000:1001')).toEqual({ uid: 1000, gid: 1001 });
    expect(parseNumericUser('app')).toBeUndefined();
    expect(parseNumericUser('1000:staff')).toBeUndefined();
    expect(parseNumericUser('1:2:3')).toBeUndefined();
    expect(() => parseNumericUser('4294967296')).toThrow(invalid);
  });
});
