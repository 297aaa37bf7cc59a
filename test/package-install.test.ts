// The package as a user gets it: `npm pack`, then `npm install -g` of the
// tarball into a private prefix (never the machine's global node_modules),
// which builds the native addon. The four bins then run from that prefix's
// bin directory, and the installed berthd, started from a config written by
// its own `config default`, runs a container with the installed CLI through
// the installed shim.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxAvailable, makeBusyboxRootfs } from './fixtures/busybox-rootfs.js';
import { unmountUnder } from './helpers/cri.js';
import { repoRoot, requireBuild, run, waitForSocket } from './helpers/daemon.js';
import { cgroupsNamed, shimServers } from './helpers/leftovers.js';

/** Each bin and its version flag. */
const BINS: Record<string, string> = {
  berthd: '--version',
  berth: '--version',
  'berth-shim': '-v',
  'containerd-shim-berth-v2': '-v',
};
// Our own namespace: runc's cgroups for it are named after it, and removed at the end.
const NS = `pkg-install-${process.pid}`;
const DETACHED = 'pkg-detached';
const ONE_SHOT = 'pkg-once';
// npm install compiles the addon; give a loaded machine room, the suite's default is not enough.
const INSTALL_TIMEOUT_MS = 300_000;

const ready = busyboxAvailable() && existsSync('/usr/sbin/runc');

/** npm as the user runs it (their PATH, for node-gyp's python3, make and g++). */
function npm(args: string[], cwd: string) {
  return promisify(execFile)('npm', args, {
    cwd,
    timeout: INSTALL_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
  });
}

describe.skipIf(!ready)('npm pack + npm install -g', () => {
  let tmp: string;
  let prefix: string;
  let bin: string;
  let installed: string;
  let tarball: string;
  let env: NodeJS.ProcessEnv;
  let daemonDir: string;
  let address: string;
  let daemon: ChildProcess | undefined;
  let daemonLog = '';

  const cli = (...args: string[]) =>
    run('berth', ['-a', address, '-n', NS, ...args], { env, timeoutMs: 60_000 });

  beforeAll(async () => {
    requireBuild();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-pkg-'));
    prefix = path.join(tmp, 'prefix');
    bin = path.join(prefix, 'bin');
    installed = path.join(prefix, 'lib', 'node_modules', 'berth');
    daemonDir = path.join(tmp, 'daemon');
    address = path.join(daemonDir, 'berth.sock');
    // Installed bins first; then node and runc. Nothing else named berth* is reachable
    // before the prefix, so what runs is what was installed.
    env = {
      ...process.env,
      PATH: [bin, path.dirname(process.execPath), '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(
        ':',
      ),
    };

    // Packs dist/ as built: prepack could rebuild the checkout's dist/, which a test must not touch.
    const packed = await npm(
      ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp],
      repoRoot,
    );
    tarball = path.join(tmp, JSON.parse(packed.stdout)[0].filename);
    // --allow-scripts names the tarball by its path: that is how npm identifies a
    // file install when deciding whether its install script (the addon build) may run.
    await npm(
      [
        'install',
        '-g',
        '--prefix',
        prefix,
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        `--allow-scripts=${tarball},classic-level`,
        tarball,
      ],
      tmp,
    );
  }, INSTALL_TIMEOUT_MS);

  afterAll(async () => {
    if (!tmp) return;
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
      for (const id of [DETACHED, ONE_SHOT]) {
        await cli('tasks', 'rm', '-f', id);
        await cli('containers', 'rm', id);
      }
      await stopDaemon();
    }
    await removeLeftovers();
    await rm(tmp, { recursive: true, force: true });
  }, INSTALL_TIMEOUT_MS);

  async function stopDaemon(): Promise<number | null> {
    const p = daemon!;
    if (p.exitCode !== null || p.signalCode !== null) return p.exitCode;
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    process.kill(p.pid!, 'SIGTERM');
    return exited;
  }

  /**
   * What a failed run may leave (runc containers, shims of our daemon, mounts
   * below tmp) and what a good one leaves too: the namespace's parent cgroups.
   */
  async function removeLeftovers() {
    const runcRoot = path.join(daemonDir, 'state', 'runc');
    for (const ns of existsSync(runcRoot) ? readdirSync(runcRoot) : []) {
      for (const id of [DETACHED, ONE_SHOT]) {
        await run('runc', ['--root', path.join(runcRoot, ns), 'delete', '--force', id], { env });
      }
    }
    for (const pid of processesMentioning(daemonDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
    }
    await unmountUnder(tmp);
    for (const dir of cgroupsNamed([NS])) {
      try {
        rmdirSync(dir);
      } catch {
        /* still holds a container cgroup: left as it is */
      }
    }
  }

  it('ships dist/, the wrapper and the unit, and no prebuilt addon', async () => {
    const listed = await run('tar', ['-tzf', tarball]);
    const files = listed.stdout.split('\n').map((f) => f.replace(/^package\//, ''));
    for (const f of [
      'dist/berthd.cjs',
      'dist/berthd.bundle.cjs',
      'dist/berth.cjs',
      'dist/berth-shim.mjs',
      'bin/containerd-shim-berth-v2',
      'binding.gyp',
      'native/berth_native.c',
      'packaging/berthd.service',
    ]) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => f.startsWith('build/') || f.startsWith('dist/test'))).toEqual([]);
    // The install step built it.
    expect(existsSync(path.join(installed, 'build', 'Release', 'berth_native.node'))).toBe(true);
  });

  it('puts the four bins on PATH, each printing its version', async () => {
    const { version } = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8'));
    for (const [name, flag] of Object.entries(BINS)) {
      expect(existsSync(path.join(bin, name)), `${name} in ${bin}`).toBe(true);
      const r = await run(name, [flag], { env });
      expect(r.code, `${name} ${flag}: ${r.stderr}`).toBe(0);
      expect(r.stdout, name).toContain(`v${version}`);
    }
  });

  it('runs a container with the installed berthd, berth and shim', async () => {
    const rootfs = makeBusyboxRootfs(path.join(tmp, 'rootfs'));
    await mkdir(daemonDir);

    // A config written by `berthd config default`, edited as a user would: only
    // the paths change, and the ttrpc socket must follow the new gRPC address.
    const defaults = await run('berthd', ['config', 'default'], { env });
    expect(defaults.code, defaults.stderr).toBe(0);
    const cfg = parse(defaults.stdout) as {
      root: string;
      state: string;
      grpc: { address: string };
    };
    cfg.root = path.join(daemonDir, 'root');
    cfg.state = path.join(daemonDir, 'state');
    cfg.grpc.address = address;
    const cfgFile = path.join(daemonDir, 'config.toml');
    await writeFile(cfgFile, stringify(cfg));

    daemon = spawn('berthd', ['--config', cfgFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    daemon.stdout!.on('data', (b) => (daemonLog += b));
    daemon.stderr!.on('data', (b) => (daemonLog += b));
    await waitForSocket(address, 60_000, daemon).catch((err: Error) => {
      throw new Error(`${err.message}\n${daemonLog}`);
    });
    const dump = await run('berthd', ['--config', cfgFile, 'config', 'dump'], { env });
    expect((parse(dump.stdout) as typeof cfg & { ttrpc: { address: string } }).ttrpc).toEqual({
      address: `${address}.ttrpc`,
    });

    const once = await cli('run', '--rm', '--rootfs', rootfs, ONE_SHOT, 'id', '-u');
    expect(once.code, once.stderr + daemonLog).toBe(0);
    expect(once.stdout.trim()).toBe('0');
    // The shim forwarded the task's events there.
    expect(existsSync(`${address}.ttrpc`), daemonLog).toBe(true);

    // The task's shim is the installed bundle (reached through the installed wrapper).
    const started = await cli('run', '-d', '--rootfs', rootfs, DETACHED, 'sleep', '600');
    expect(started.code, started.stderr + daemonLog).toBe(0);
    const shims = shimServers(address, daemonDir, [daemon.pid!]).filter((pid) =>
      readlinkSync(`/proc/${pid}/cwd`).endsWith(`/${DETACHED}`),
    );
    expect(shims).toHaveLength(1);
    const shimArgs = readFileSync(`/proc/${shims[0]}/cmdline`, 'utf8').split('\0');
    expect(shimArgs.map((a) => path.resolve(a))).toContain(
      path.join(installed, 'dist', 'berth-shim.mjs'),
    );

    expect((await cli('tasks', 'rm', '-f', DETACHED)).code).toBe(0);
    expect((await cli('containers', 'rm', DETACHED)).code).toBe(0);
    expect(await stopDaemon()).toBe(0);
  });
});

/** PIDs whose command line mentions `dir` (our daemon's shims carry its socket path). */
function processesMentioning(dir: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) out.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}
