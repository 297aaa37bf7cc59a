// Generated OCI specs against the real runc: a busybox-static bundle must run and
// see exactly the settings the spec asked for.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_UNIX_CAPABILITIES,
  LINUX_CAPABILITIES,
  currentBoundingCapabilities,
  defaultSpec,
  generateDefaultSpec,
  withAddedCapabilities,
  withDefaultPathEnv,
  withDroppedCapabilities,
  withEnv,
  withHostname,
  withMemoryLimit,
  withMounts,
  withPidsLimit,
  withPrivileged,
  withProcessArgs,
  withProcessCwd,
  withRootfs,
  withUser,
  type SpecOpt,
} from '../core/oci/index.js';

const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'echo', 'true', 'sleep', 'cat', 'grep', 'hostname', 'id', 'pwd'];

function onPath(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const canRun = process.getuid?.() === 0 && onPath('runc') && existsSync(BUSYBOX);

// A namespace of our own keeps the cgroups we create apart from everyone else's.
const namespace = `berth-oci-test-${randomBytes(4).toString('hex')}`;
let workDir: string;
let seq = 0;
const started: string[] = [];

function capMask(caps: readonly string[]): string {
  let mask = 0n;
  for (const c of caps) mask |= 1n << BigInt(LINUX_CAPABILITIES.indexOf(c));
  return mask.toString(16).padStart(16, '0');
}

/** Write a bundle with a fresh busybox rootfs and run it to completion with runc. */
async function runContainer(
  opts: SpecOpt[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const id = `${namespace}-${++seq}`;
  const bundle = join(workDir, id);
  const rootfs = join(bundle, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
  for (const applet of APPLETS) symlinkSync('busybox', join(rootfs, 'bin', applet));
  const spec = generateDefaultSpec({ id, namespace }, [withRootfs(rootfs), ...opts]);
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));

  started.push(id);
  const child = spawn('runc', ['run', '--bundle', bundle, id], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  }).finally(() => clearTimeout(timer));
  return { code, stdout, stderr };
}

describe.skipIf(!canRun)('OCI specs run by runc', () => {
  beforeAll(() => {
    workDir = mkdtempSync(join(tmpdir(), 'berth-oci-runc-'));
  });

  afterAll(() => {
    const errors: string[] = [];
    for (const id of started) {
      try {
        execFileSync('runc', ['delete', '--force', id], { stdio: 'pipe' });
      } catch (err) {
        const msg = String((err as { stderr?: Buffer }).stderr ?? err);
        if (!/does not exist|not exist|no such/i.test(msg))
          errors.push(`runc delete ${id}: ${msg}`);
      }
    }
    if (workDir) rmSync(workDir, { recursive: true, force: true });
    // runc removes each container's cgroup but not the namespace level above it:
    // /sys/fs/cgroup/<ns> (v2) or /sys/fs/cgroup/<controller>/<ns> (v1).
    const cgroupRoot = '/sys/fs/cgroup';
    const candidates = [join(cgroupRoot, namespace)];
    for (const entry of readdirSync(cgroupRoot))
      candidates.push(join(cgroupRoot, entry, namespace));
    for (const dir of candidates) {
      try {
        rmdirSync(dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') errors.push(`rmdir ${dir}: ${code}`);
      }
    }
    if (errors.length > 0) throw new Error(`cleanup failed:\n${errors.join('\n')}`);
  });

  it.skipIf(!onPath('ctr'))('produces the same default spec as `ctr oci spec`', () => {
    // ctr builds it offline, for namespace "default" and an empty container id.
    const ctrSpec = JSON.parse(execFileSync('ctr', ['oci', 'spec'], { encoding: 'utf8' }));
    const ours = JSON.parse(JSON.stringify(defaultSpec({ id: 'x', namespace: 'default' })));
    expect(ours.linux.cgroupsPath).toBe('/default/x');
    ours.linux.cgroupsPath = ctrSpec.linux.cgroupsPath;
    expect(ours).toEqual(ctrSpec);
  });

  it('runs busybox with the default spec', async () => {
    const res = await runContainer([withProcessArgs('/bin/sh', '-c', 'echo ok')]);
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe('ok\n');
    expect(res.code).toBe(0);
  });

  it('applies process, capability and resource settings', async () => {
    const script = [
      'hostname',
      'pwd',
      'echo "$GREETING"',
      'grep -E "^(CapEff|CapBnd|NoNewPrivs):" /proc/self/status',
      'cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max',
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max',
    ].join('; ');
    const res = await runContainer([
      withDefaultPathEnv,
      withEnv(['GREETING=hello from berth']),
      withHostname('berth-box'),
      withProcessCwd('/bin'),
      withAddedCapabilities(['net_admin']),
      withDroppedCapabilities(['CAP_MKNOD', 'net_raw']),
      withPidsLimit(17),
      withMemoryLimit(64 << 20),
      withMounts([
        {
          destination: '/sys/fs/cgroup',
          type: 'cgroup',
          source: 'cgroup',
          options: ['nosuid', 'noexec', 'nodev', 'ro'],
        },
      ]),
      withProcessArgs('sh', '-c', script),
    ]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const caps = DEFAULT_UNIX_CAPABILITIES.filter(
      (c) => c !== 'CAP_MKNOD' && c !== 'CAP_NET_RAW',
    ).concat('CAP_NET_ADMIN');
    expect(res.stdout.split('\n')).toEqual([
      'berth-box',
      '/bin',
      'hello from berth',
      `CapEff:\t${capMask(caps)}`,
      `CapBnd:\t${capMask(caps)}`,
      'NoNewPrivs:\t1',
      '17',
      String(64 << 20),
      '',
    ]);
  });

  it('runs as the given user and groups', async () => {
    const res = await runContainer([withUser(1000, 1000, [1000, 27]), withProcessArgs('/bin/id')]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    // setgroups(2) stores the list sorted, so id prints it ascending.
    expect(res.stdout).toBe('uid=1000 gid=1000 groups=27,1000\n');
  });

  it('runs privileged with every capability this host grants', async () => {
    const res = await runContainer([
      withPrivileged(),
      withProcessArgs(
        '/bin/sh',
        '-c',
        'grep -E "^CapEff:" /proc/self/status; grep " /sys " /proc/mounts',
      ),
    ]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const [capLine, sysLine] = res.stdout.split('\n');
    expect(capLine).toBe(`CapEff:\t${capMask(currentBoundingCapabilities())}`);
    expect(sysLine).toMatch(/^sysfs \/sys sysfs rw,/);
  });

  it('fails cleanly when the process does not exist', async () => {
    const res = await runContainer([withProcessArgs('/bin/does-not-exist')]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/does-not-exist/);
  });
});
