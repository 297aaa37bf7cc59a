// `berth-shim start`: pick (or reuse) the group's socket, launch the server
// detached, wait until it answers, write <bundle>/address, print the address.
//
// The server must not inherit our stdout/stderr: the daemon reads them to EOF
// (Go's CombinedOutput), so an inherited pipe would hang it forever.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { SOCKET_DIR, groupKey, socketPath, toAddress } from './address.js';
import { formatServerFlags, type ShimFlags } from './flags.js';

export interface StartResult {
  address: string;
  /** The server's pid, or undefined when an existing shim of the group was reused. */
  pid?: number;
}

function readSpec(bundle: string): { annotations?: Record<string, string> } | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

export function acceptsConnections(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socket);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Atomic write of <bundle>/address (temp file + rename), as containerd reads it on restart. */
export function writeAddress(bundle: string, address: string): void {
  const tmp = path.join(bundle, `.address.${process.pid}`);
  fs.writeFileSync(tmp, address, { mode: 0o600 });
  fs.renameSync(tmp, path.join(bundle, 'address'));
}

/** The bundle's `log` FIFO for the server's stderr, opened without blocking; 'ignore' if nobody reads it. */
function openShimLog(bundle: string): number | 'ignore' {
  try {
    const p = path.join(bundle, 'log');
    if (!fs.statSync(p).isFIFO()) return 'ignore';
    return fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  } catch {
    return 'ignore';
  }
}

export async function startShim(
  flags: ShimFlags,
  opts: { script: string; execArgv?: string[]; socketDir?: string; readyTimeoutMs?: number },
): Promise<StartResult> {
  if (!flags.namespace) throw new Error('-namespace is required');
  if (!flags.id) throw new Error('-id is required');
  const bundle = flags.bundle || process.cwd();
  const group = groupKey(readSpec(bundle), flags.id);
  const dir = opts.socketDir ?? SOCKET_DIR;
  fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
  const socket = socketPath(flags.address, flags.namespace, group, dir);
  const address = toAddress(socket);

  if (fs.existsSync(socket)) {
    if (await acceptsConnections(socket)) {
      // Another container of the group: its shim serves us too.
      writeAddress(bundle, address);
      return { address };
    }
    fs.rmSync(socket, { force: true });
  }

  const logFd = openShimLog(bundle);
  const child = spawn(
    process.execPath,
    [
      ...(opts.execArgv ?? process.execArgv),
      opts.script,
      ...formatServerFlags({ ...flags, bundle, socket }),
    ],
    {
      cwd: bundle,
      detached: true, // own process group: the daemon's signals to its group do not reach us
      stdio: ['ignore', 'ignore', logFd],
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
    },
  );
  if (typeof logFd === 'number') fs.closeSync(logFd);
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, sig) =>
      resolve(`shim server exited early (${sig ?? `status ${code}`})`),
    ),
  );
  child.once('error', () => {});

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 10_000);
  let failure: string | undefined;
  void exited.then((m) => (failure = m));
  for (;;) {
    if (failure) {
      // Lost a race with a concurrent start of the same group: use the winner.
      if (await acceptsConnections(socket)) {
        writeAddress(bundle, address);
        return { address };
      }
      throw new Error(failure);
    }
    if (await acceptsConnections(socket)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`shim server did not listen on ${socket} in time`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  child.unref();
  fs.writeFileSync(path.join(bundle, 'shim.pid'), String(child.pid), { mode: 0o600 });
  writeAddress(bundle, address);
  return { address, pid: child.pid };
}
