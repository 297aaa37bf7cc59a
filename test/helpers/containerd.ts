import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run, waitForSocket } from './daemon.js';

export const CONTAINERD = '/usr/bin/containerd';
export const CTR = '/usr/bin/ctr';
export const haveContainerd = existsSync(CONTAINERD) && existsSync(CTR);

export interface TestContainerd {
  dir: string;
  address: string;
  proc: ChildProcess;
  ctr(...args: string[]): ReturnType<typeof run>;
  dispose(): Promise<void>;
}

/**
 * Debian's containerd in its own temporary root, state and sockets (CRI off),
 * with `extraPath` prepended to PATH so it finds shims such as ours.
 */
export async function startContainerd(
  opts: { extraPath?: string[] } = {},
): Promise<TestContainerd> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ctrd-it-'));
  const address = path.join(dir, 'containerd.sock');
  const config = [
    'version = 2',
    `root = "${dir}/root"`,
    `state = "${dir}/state"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = "${address}"`,
    '[ttrpc]',
    `  address = "${address}.ttrpc"`,
    '[debug]',
    `  address = "${dir}/debug.sock"`,
    '[plugins."io.containerd.runtime.v1.linux"]',
    `  runtime_root = "${dir}/runtime-v1"`,
    '[plugins."io.containerd.monitor.v1.cgroups"]',
    '  no_prometheus = true',
  ].join('\n');
  await writeFile(path.join(dir, 'config.toml'), config + '\n');
  let output = '';
  const env = {
    ...process.env,
    PATH: [...(opts.extraPath ?? []), process.env.PATH ?? '/usr/bin:/bin'].join(':'),
  };
  const proc = spawn(CONTAINERD, ['--config', path.join(dir, 'config.toml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  proc.stdout!.on('data', (b) => (output += b));
  proc.stderr!.on('data', (b) => (output += b));
  try {
    await waitForSocket(address, 20_000, proc);
  } catch (err) {
    proc.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${output}`);
  }
  return {
    dir,
    address,
    proc,
    ctr: (...args) => run(CTR, ['-a', address, ...args], { env }),
    async dispose() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
