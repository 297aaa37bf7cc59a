// berthd and Debian's containerd, each in its own temporary root, state and
// sockets, started and stopped the same way so their figures compare: spawn,
// poll the Version RPC until it answers, SIGTERM by pid to stop.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { VersionResponse } from '../../api/gen/containerd/services/version/v1/version.js';
import type { Cleanup } from './cleanup.js';
import { BERTHD, CONTAINERD, CONTAINERD2, CONTAINERD2_DIR, requireBuild } from './paths.js';
import { tempDir } from './tempdir.js';
import { waitForVersion } from './version-probe.js';

/** `containerd`: Debian's 1.6; `containerd2`: 2.x from scripts/bench-tools.sh. */
export type DaemonKind = 'berthd' | 'containerd' | 'containerd2';

export interface DaemonHandle {
  kind: DaemonKind;
  pid: number;
  /** The daemon's temporary directory (root, state, sockets, config). */
  dir: string;
  /** gRPC socket. */
  socket: string;
  /** ttrpc socket, where shims forward events. */
  ttrpcSocket: string;
  /** Milliseconds from spawn to the first answered Version call. */
  readyMs: number;
  /** CPU time (user + system) the daemon had used when it answered; less load-sensitive than readyMs. */
  cpuMsAtReady: number;
  version: VersionResponse;
  /** The tail of its stdout and stderr. */
  logs(): string;
  /** SIGTERM, and milliseconds until it exited (SIGKILL after the grace period). */
  stop(graceMs?: number): Promise<number>;
  /** Stops it and removes its directory. */
  dispose(): Promise<void>;
}

export interface StartOptions {
  /** Directories put in front of PATH (where shims are looked up). */
  extraPath?: string[];
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
  /** berthd only: the script to run (default BERTHD: the bundle when built). */
  script?: string;
  /** berthd only: its config file's text (default empty: every default). */
  config?: string;
}

const LOG_TAIL = 64 * 1024;

let clockTicks: number | undefined;

/** CPU time (user + system) of a live process, from /proc/<pid>/stat. */
export function cpuMs(pid: number): number {
  clockTicks ??= (() => {
    try {
      return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      return 100;
    }
  })();
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat(5); fields[] starts at field 3.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
}

async function launch(
  kind: DaemonKind,
  cleanup: Cleanup,
  prepare: (dir: string) => Promise<{ command: string; args: string[]; socket: string }>,
  opts: StartOptions,
): Promise<DaemonHandle> {
  const tmp = await tempDir(cleanup, `${kind === 'berthd' ? 'berthd' : kind}-bench-`);
  const { command, args, socket } = await prepare(tmp.path);
  const env = {
    ...process.env,
    ...opts.env,
    PATH: [...(opts.extraPath ?? []), process.env.PATH ?? '/usr/bin:/bin'].join(':'),
  };

  let output = '';
  const keep = (b: Buffer) => {
    output += b.toString();
    if (output.length > LOG_TAIL) output = output.slice(-LOG_TAIL);
  };
  const t0 = performance.now();
  const proc: ChildProcess = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  let spawnError: Error | undefined;
  proc.once('error', (err) => (spawnError = err));

  const exited = () => proc.exitCode !== null || proc.signalCode !== null;
  const whenExited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async (graceMs = 10_000): Promise<number> => {
    if (exited() || proc.pid === undefined) return 0;
    const s0 = performance.now();
    proc.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        proc.kill('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([whenExited, killed]);
    clearTimeout(timer);
    await whenExited;
    return performance.now() - s0;
  };
  const stopAtCleanup = cleanup.defer(`stop ${kind} (pid ${proc.pid})`, async () => {
    await stop(5000);
  });

  let version: VersionResponse;
  try {
    version = await waitForVersion(socket, {
      timeoutMs: opts.readyTimeoutMs ?? 30_000,
      failed: () =>
        spawnError
          ? `${command}: ${spawnError.message}`
          : exited()
            ? `${kind} exited (${proc.signalCode ?? `status ${proc.exitCode}`}) before answering:\n${output}`
            : undefined,
    });
  } catch (err) {
    await stopAtCleanup.now();
    await tmp.remove();
    throw err;
  }
  const readyMs = performance.now() - t0;
  const cpuMsAtReady = cpuMs(proc.pid!);

  return {
    kind,
    pid: proc.pid!,
    dir: tmp.path,
    socket,
    ttrpcSocket: `${socket}.ttrpc`,
    readyMs,
    cpuMsAtReady,
    version,
    logs: () => output,
    stop,
    async dispose() {
      await stopAtCleanup.now();
      await tmp.remove();
    },
  };
}

/** berthd (dist/cmd/berthd.js) with an empty config file of its own and default log level. */
/** berthd's arguments for a daemon living entirely in `dir` (socket `dir/berth.sock`). */
export function berthdArgs(dir: string, config: string, script = BERTHD): string[] {
  return [
    script,
    '--config',
    config,
    '--root',
    path.join(dir, 'root'),
    '--state',
    path.join(dir, 'state'),
    '--address',
    path.join(dir, 'berth.sock'),
  ];
}

export function startBerthd(cleanup: Cleanup, opts: StartOptions = {}): Promise<DaemonHandle> {
  requireBuild();
  return launch(
    'berthd',
    cleanup,
    async (dir) => {
      const socket = path.join(dir, 'berth.sock');
      const config = path.join(dir, 'config.toml');
      // Explicit, so a /etc/berth/config.toml on the host cannot change what is measured.
      await writeFile(config, opts.config ?? '');
      return { command: process.execPath, args: berthdArgs(dir, config, opts.script), socket };
    },
    opts,
  );
}

/**
 * What keeps a containerd private to a run: its directories and sockets, all
 * under `dir`. `version` is the config schema (2 for 1.x; 2.x also reads 3).
 */
export function containerdPrivateConfig(
  dir: string,
  socket: string,
  topLevel: string[] = [],
  version = 2,
) {
  return [
    `version = ${version}`,
    `root = "${dir}/root"`,
    `state = "${dir}/state"`,
    ...topLevel,
    '[grpc]',
    `  address = "${socket}"`,
    '[ttrpc]',
    `  address = "${socket}.ttrpc"`,
    '[debug]',
    `  address = "${dir}/debug.sock"`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = "${dir}/opt"`,
  ];
}

/** The config for a private containerd: everything under `dir`, CRI off, default log level. */
export function containerdConfig(dir: string, socket: string): string {
  return [
    ...containerdPrivateConfig(dir, socket, ['disabled_plugins = ["io.containerd.grpc.v1.cri"]']),
    '[plugins."io.containerd.runtime.v1.linux"]',
    `  runtime_root = "${dir}/runtime-v1"`,
    '[plugins."io.containerd.monitor.v1.cgroups"]',
    '  no_prometheus = true',
    '',
  ].join('\n');
}

/** Debian's /usr/bin/containerd with a temporary config (see containerdConfig). */
export function startContainerd(cleanup: Cleanup, opts: StartOptions = {}): Promise<DaemonHandle> {
  return launch(
    'containerd',
    cleanup,
    async (dir) => {
      const socket = path.join(dir, 'containerd.sock');
      const config = path.join(dir, 'config.toml');
      await writeFile(config, containerdConfig(dir, socket));
      return { command: CONTAINERD, args: ['--config', config], socket };
    },
    opts,
  );
}

/**
 * containerd 2.x with the same private layout. Its own runc shim comes first on
 * PATH, so each containerd runs the shim of its own release.
 */
export function startContainerd2(cleanup: Cleanup, opts: StartOptions = {}): Promise<DaemonHandle> {
  return launch(
    'containerd2',
    cleanup,
    async (dir) => {
      const socket = path.join(dir, 'containerd.sock');
      const config = path.join(dir, 'config.toml');
      await writeFile(config, containerd2Config(dir, socket));
      return { command: CONTAINERD2, args: ['--config', config], socket };
    },
    { ...opts, extraPath: [CONTAINERD2_DIR, ...(opts.extraPath ?? [])] },
  );
}

/** The config for a private containerd 2.x: everything under `dir`, CRI off. */
export function containerd2Config(dir: string, socket: string): string {
  return [
    ...containerdPrivateConfig(dir, socket, [
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images"]',
    ]),
    '',
  ].join('\n');
}

export function startDaemon(
  kind: DaemonKind,
  cleanup: Cleanup,
  opts: StartOptions = {},
): Promise<DaemonHandle> {
  if (kind === 'berthd') return startBerthd(cleanup, opts);
  return kind === 'containerd2' ? startContainerd2(cleanup, opts) : startContainerd(cleanup, opts);
}
