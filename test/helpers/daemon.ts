import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const distCmd = (name: string) => path.join(repoRoot, 'dist', 'cmd', `${name}.js`);

export function requireBuild(): void {
  if (!existsSync(distCmd('berthd'))) {
    throw new Error('dist/ is missing: run `npm run build` before the integration tests');
  }
}

export interface TestDaemon {
  dir: string;
  root: string;
  state: string;
  address: string;
  proc: ChildProcess;
  logs: () => string;
  /** SIGTERM (or the given signal) and wait for exit; keeps the directories. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Starts a new daemon process on the same directories. */
  restart(): Promise<void>;
  /** Stops the daemon and removes its directories. */
  dispose(): Promise<void>;
}

export function waitForSocket(
  file: string,
  timeoutMs = 15_000,
  proc?: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (proc && proc.exitCode !== null) {
        return reject(new Error(`daemon exited with ${proc.exitCode} before listening`));
      }
      const s = net.connect(file);
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`timed out waiting for ${file}`));
        else setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}

/** Starts berthd in its own temporary root, state and socket. */
export async function startDaemon(
  opts: { config?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<TestDaemon> {
  requireBuild();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-it-'));
  const root = path.join(dir, 'root');
  const state = path.join(dir, 'state');
  const address = path.join(dir, 'berth.sock');
  const args = [
    distCmd('berthd'),
    '--root',
    root,
    '--state',
    state,
    '--address',
    address,
    '--log-level',
    'debug',
  ];
  if (opts.config) {
    const cfg = path.join(dir, 'config.toml');
    await writeFile(cfg, opts.config);
    args.push('--config', cfg);
  }
  let output = '';
  const d: TestDaemon = {
    dir,
    root,
    state,
    address,
    proc: undefined as unknown as ChildProcess,
    logs: () => output,
    async stop(signal = 'SIGTERM') {
      const p = d.proc;
      if (p.exitCode !== null || p.signalCode !== null) return p.exitCode;
      const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
      p.kill(signal);
      return exited;
    },
    async restart() {
      await launch();
    },
    async dispose() {
      await d.stop('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
  const launch = async () => {
    const proc = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    proc.stdout!.on('data', (b) => (output += b));
    proc.stderr!.on('data', (b) => (output += b));
    d.proc = proc;
    try {
      await waitForSocket(address, 20_000, proc);
    } catch (err) {
      proc.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\n${output}`);
    }
  };
  try {
    await launch();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return d;
}

/** Runs a command and collects its output. */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, {
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b) => (stdout += b));
    p.stderr.on('data', (b) => (stderr += b));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    p.once('error', reject);
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    p.stdin.end(opts.input ?? '');
  });
}

/** The berth CLI against a daemon. */
export function berth(d: { address: string }, args: string[], opts: { namespace?: string } = {}) {
  return run(process.execPath, [
    distCmd('berth'),
    '-a',
    d.address,
    ...(opts.namespace ? ['-n', opts.namespace] : []),
    ...args,
  ]);
}
