// Daemons serving the Kubernetes CRI for the benchmarks, side by side: berthd's
// CRI plugin (berth-shim), Debian's containerd 1.6 CRI plugin and, when
// scripts/bench-tools.sh has built it, containerd 2.x's (each containerd with
// the containerd-shim-runc-v2 of its own release). Each gets its own temporary
// root, its own CNI config with a bridge of its own, and the fixture pause and
// busybox images (berthd through the content and images API, the containerds
// with Debian's `ctr -n k8s.io images import`); everything is undone by the
// run's cleanup.

import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { BenchContext } from '../benchmark.js';
import type { Cleanup } from './cleanup.js';
import { berthdArgs, containerdPrivateConfig } from './daemons.js';
import {
  BERTHD,
  CONTAINERD,
  CONTAINERD2,
  CONTAINERD2_DIR,
  CTR,
  RUNC_SHIM,
  haveContainerd2,
} from './paths.js';
import { type BestRatio, versusBest } from './table.js';
import { processesWithArgument } from './task-hosts.js';
import { tempDir } from './tempdir.js';
import { waitForVersion } from './version-probe.js';
import {
  busyboxImage,
  pauseImage,
  writeImageArchive,
  type BuiltImage,
} from '../../test/fixtures/image-builder.js';
import {
  type CriClient,
  criClient,
  importImage,
  testNetwork,
  unmountUnder,
} from '../../test/helpers/cri.js';

const run = promisify(execFile);

export const SANDBOX_IMAGE = 'registry.k8s.io/pause:3.9';
export const CONTAINER_IMAGE = 'docker.io/library/busybox:latest';
export const CNI_BIN = '/usr/lib/cni';

export interface CriHost {
  label: string;
  pid: number;
  socket: string;
  dir: string;
  cri: CriClient;
  shimPids(): number[];
  /** Removes every pod, stops the daemon and removes what it left. */
  dispose(): Promise<void>;
}

export interface CriSubject {
  label: string;
  available(): string | undefined;
  /** `env` is added to the daemon's environment. */
  start(
    cleanup: Cleanup,
    images: BuiltImage[],
    octet: number,
    env?: NodeJS.ProcessEnv,
  ): Promise<CriHost>;
}

/** Starts a daemon, waits for its Version answer, and registers its stop. */
async function launch(
  cleanup: Cleanup,
  command: string,
  args: string[],
  socket: string,
  env?: NodeJS.ProcessEnv,
): Promise<{ pid: number; stop: () => Promise<void> }> {
  let output = '';
  const proc = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: env ? { ...process.env, ...env } : process.env,
  });
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-32 * 1024);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const deferred = cleanup.defer(`stop ${command} (pid ${proc.pid})`, stop);
  try {
    await waitForVersion(socket, {
      timeoutMs: 30_000,
      failed: () =>
        proc.exitCode !== null ? `${command} exited (${proc.exitCode}):\n${output}` : undefined,
    });
  } catch (err) {
    await deferred.now();
    throw err;
  }
  return { pid: proc.pid!, stop: deferred.now };
}

/** Every pod through the CRI (netns, CNI, mounts undone), then the daemon and its mounts. */
function disposer(
  cri: CriClient,
  stop: () => Promise<void>,
  dir: string,
  shimPids: () => number[],
): () => Promise<void> {
  return async () => {
    const pods = await cri.runtime.listPodSandbox({}).catch(() => ({ items: [] }));
    for (const p of pods.items) {
      await cri.runtime.stopPodSandbox({ podSandboxId: p.id }).catch(() => {});
      await cri.runtime.removePodSandbox({ podSandboxId: p.id }).catch(() => {});
    }
    cri.close();
    const left = shimPids();
    await stop();
    // A shim that outlived its pods (it should not) is this run's to end.
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await unmountUnder(dir);
  };
}

const BERTH: CriSubject = {
  label: 'Berth',
  available: () => (existsSync(BERTHD) ? undefined : `${BERTHD} is not built`),
  async start(cleanup, images, octet, env) {
    const tmp = await tempDir(cleanup, 'berthd-cri-');
    const dir = tmp.path;
    const net = await testNetwork(dir, octet);
    cleanup.defer(`remove bridge ${net.bridge}`, () => net.dispose());
    const socket = path.join(dir, 'berth.sock');
    const config = path.join(dir, 'config.toml');
    await writeFile(
      config,
      [
        'version = 1',
        '[plugins."io.berth.grpc.v1.cri"]',
        `sandbox_image = "${SANDBOX_IMAGE}"`,
        `registry_config_path = "${path.join(dir, 'certs.d')}"`,
        '[plugins."io.berth.grpc.v1.cri".cni]',
        `conf_dir = "${net.confDir}"`,
        `bin_dirs = ["${CNI_BIN}"]`,
        '',
      ].join('\n'),
    );
    const { pid, stop } = await launch(
      cleanup,
      process.execPath,
      berthdArgs(dir, config),
      socket,
      env,
    );
    for (const img of images) await importImage(socket, img);
    const cri = criClient(socket);
    const shimPids = () => processesWithArgument(socket, [pid, process.pid]);
    const dispose = disposer(cri, stop, dir, shimPids);
    const d = cleanup.defer('remove Berth pods', dispose);
    return { label: 'Berth', pid, socket, dir, cri, shimPids, dispose: d.now };
  },
};

/** containerd 1.6 with its CRI plugin, everything under `dir`. */
function containerdCriConfig(dir: string, socket: string, confDir: string): string {
  const cri = '[plugins."io.containerd.grpc.v1.cri"]';
  return [
    ...containerdPrivateConfig(dir, socket),
    '[plugins."io.containerd.monitor.v1.cgroups"]',
    '  no_prometheus = true',
    cri,
    `  sandbox_image = "${SANDBOX_IMAGE}"`,
    '  disable_tcp_service = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    // This machine withholds CAP_SYS_RESOURCE: clamp the pause container's -998 as berthd does.
    '  restrict_oom_score_adj = true',
    '  disable_apparmor = true',
    `${cri.slice(0, -1)}.cni]`,
    `  bin_dir = "${CNI_BIN}"`,
    `  conf_dir = "${confDir}"`,
    `${cri.slice(0, -1)}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    `${cri.slice(0, -1)}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `${cri.slice(0, -1)}.registry]`,
    `  config_path = "${dir}/certs.d"`,
    '',
  ].join('\n');
}

/**
 * containerd 2.x with its CRI plugins, in the plugin IDs of config version 3:
 * runtime and CNI under io.containerd.cri.v1.runtime, snapshotter, pause image
 * and registry under io.containerd.cri.v1.images, the streaming server under
 * io.containerd.grpc.v1.cri. The settings match containerdCriConfig's.
 */
function containerd2CriConfig(dir: string, socket: string, confDir: string): string {
  const runtime = '[plugins."io.containerd.cri.v1.runtime"';
  const images = '[plugins."io.containerd.cri.v1.images"';
  return [
    ...containerdPrivateConfig(dir, socket, [], 3),
    '[plugins."io.containerd.monitor.task.v1.cgroups"]',
    '  no_prometheus = true',
    // NRI is on by default in 2.x: its socket goes under dir, not /var/run/nri.
    '[plugins."io.containerd.nri.v1.nri"]',
    `  socket_path = "${dir}/nri.sock"`,
    '[plugins."io.containerd.grpc.v1.cri"]',
    '  disable_tcp_service = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    `${images}]`,
    '  snapshotter = "overlayfs"',
    `${images}.pinned_images]`,
    `  sandbox = "${SANDBOX_IMAGE}"`,
    `${images}.registry]`,
    `  config_path = "${dir}/certs.d"`,
    `${runtime}]`,
    '  restrict_oom_score_adj = true',
    '  disable_apparmor = true',
    // bin_dirs since 2.1; 2.4 no longer reads bin_dir.
    `${runtime}.cni]`,
    `  bin_dirs = ["${CNI_BIN}"]`,
    `  conf_dir = "${confDir}"`,
    `${runtime}.containerd]`,
    '  default_runtime_name = "runc"',
    `${runtime}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    '',
  ].join('\n');
}

interface ContainerdRelease {
  label: string;
  command: string;
  config: (dir: string, socket: string, confDir: string) => string;
  /** Directories put in front of PATH: where its runc shim is found. */
  extraPath: string[];
}

/** A containerd with its CRI plugin, the fixture images imported with Debian's ctr. */
function containerdCriSubject(release: ContainerdRelease, missing: () => string | undefined) {
  const subject: CriSubject = {
    label: release.label,
    available: missing,
    async start(cleanup, images, octet) {
      const tmp = await tempDir(cleanup, `${release.label}-cri-`);
      const dir = tmp.path;
      const net = await testNetwork(dir, octet);
      cleanup.defer(`remove bridge ${net.bridge}`, () => net.dispose());
      const socket = path.join(dir, 'containerd.sock');
      const config = path.join(dir, 'config.toml');
      await writeFile(config, release.config(dir, socket, net.confDir));
      const env = release.extraPath.length
        ? { PATH: [...release.extraPath, process.env.PATH ?? '/usr/bin:/bin'].join(':') }
        : undefined;
      const { pid, stop } = await launch(
        cleanup,
        release.command,
        ['--config', config],
        socket,
        env,
      );
      await mkdir(path.join(dir, 'images'), { recursive: true });
      for (const img of images) {
        const archive = path.join(dir, 'images', `${img.config.digest.slice(7, 19)}.tar`);
        writeImageArchive(img, archive);
        await run(CTR, ['--address', socket, '-n', 'k8s.io', 'images', 'import', archive]);
      }
      const cri = criClient(socket);
      const shimPids = () => processesWithArgument(socket, [pid, process.pid]);
      const dispose = disposer(cri, stop, dir, shimPids);
      const d = cleanup.defer(`remove ${release.label} pods`, dispose);
      return { label: release.label, pid, socket, dir, cri, shimPids, dispose: d.now };
    },
  };
  return subject;
}

const CONTAINERD_CRI = containerdCriSubject(
  { label: 'containerd', command: CONTAINERD, config: containerdCriConfig, extraPath: [] },
  () =>
    [CONTAINERD, CTR, RUNC_SHIM].every((f) => existsSync(f))
      ? undefined
      : 'Debian containerd (containerd, ctr, containerd-shim-runc-v2) is not installed',
);

const CONTAINERD2_CRI = containerdCriSubject(
  {
    label: 'containerd2',
    command: CONTAINERD2,
    config: containerd2CriConfig,
    extraPath: [CONTAINERD2_DIR],
  },
  () =>
    !haveContainerd2()
      ? 'containerd 2.x is not built (bash scripts/bench-tools.sh)'
      : existsSync(CTR)
        ? undefined
        : `${CTR} (Debian's, which imports the images) is not installed`,
);

/** The subjects that can run here; the others are named with the reason on stdout. */
export function availableCriSubjects(benchmark: string): CriSubject[] {
  const out: CriSubject[] = [];
  for (const s of [BERTH, CONTAINERD_CRI, CONTAINERD2_CRI]) {
    const why = s.available();
    if (why) process.stdout.write(`(${benchmark}: ${s.label} skipped: ${why})\n`);
    else out.push(s);
  }
  return out;
}

/**
 * Runs `measure` on every available subject, one daemon at a time (each with a
 * /24 of its own from `octet` up, so bridges never overlap), disposing each
 * before the next starts. `best` is Berth's ratio column against the better of
 * the containerds on each row. Undefined when the CNI plugins are missing.
 */
export async function measureEachCriSubject<R>(
  ctx: BenchContext,
  benchmark: string,
  octet: number,
  measure: (h: CriHost) => Promise<R>,
  /** Environment added per subject label (e.g. diagnostics flags for berthd only). */
  envFor?: (label: string) => NodeJS.ProcessEnv | undefined,
): Promise<{ labels: string[]; best: BestRatio | undefined; results: R[] } | undefined> {
  if (!existsSync(path.join(CNI_BIN, 'bridge'))) {
    process.stdout.write(`(${benchmark}: skipped: no CNI plugins in ${CNI_BIN})\n`);
    return undefined;
  }
  const subjects = availableCriSubjects(benchmark);
  const images = [await pauseImage(), await busyboxImage()];
  const results: R[] = [];
  for (const [i, s] of subjects.entries()) {
    ctx.progress(`${s.label}: starting`);
    const h = await s.start(ctx.cleanup, images, octet + i, envFor?.(s.label));
    try {
      results.push(await measure(h));
    } finally {
      await h.dispose();
    }
  }
  const labels = subjects.map((s) => s.label);
  return { labels, best: criVersusBest(labels), results };
}

/** Berth against the better of the containerds present among `labels`. */
function criVersusBest(labels: string[]): BestRatio | undefined {
  const containerds = [CONTAINERD_CRI, CONTAINERD2_CRI]
    .map((s) => labels.indexOf(s.label))
    .filter((i) => i >= 0);
  return versusBest(labels, labels.indexOf(BERTH.label), containerds, 'containerd');
}
