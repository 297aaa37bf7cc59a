// `berth-shim start`: pick (or reuse) the group's socket, launch the server
// detached, wait until it answers, write <bundle>/address, print the address.
//
// The server must not inherit our stdout/stderr: the daemon reads them to EOF
// (Go's CombinedOutput), so an inherited pipe would hang it forever.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { acceptsConnections, planShimSocket, shimSocketDir } from '../core/runtime/address.js';
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

interface StartPlan {
  bundle: string;
  socket: string;
  address: string;
  /** The group's shim already serves on the socket: use it. */
  reuse: boolean;
}

/** The socket for this container's group; reuses a live one, clears a dead one. */
async function planStart(flags: ShimFlags, socketDir?: string): Promise<StartPlan> {
  if (!flags.namespace) throw new Error('-namespace is required');
  if (!flags.id) throw new Error('-id is required');
  const bundle = flags.bundle || process.cwd();
  const dir = socketDir ?? shimSocketDir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
  const { socket, address, running } = await planShimSocket({
    daemonAddress: flags.address,
    namespace: flags.namespace,
    id: flags.id,
    spec: readSpec(bundle),
    socketDir: dir,
  });
  if (running) {
    // Another container of the group: its shim serves us too.
    writeAddress(bundle, address);
    return { bundle, socket, address, reuse: true };
  }
  fs.rmSync(socket, { force: true }); // a dead shim's socket, if any
  return { bundle, socket, address, reuse: false };
}

export async function startShim(
  flags: ShimFlags,
  opts: { script: string; execArgv?: string[]; socketDir?: string; readyTimeoutMs?: number },
): Promise<StartResult> {
  const { bundle, socket, address, reuse } = await planStart(flags, opts.socketDir);
  if (reuse) return { address };

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
      // Its whole group: a hung server's own children go with it.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      throw new Error(`shim server did not listen on ${socket} in time`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  child.unref();
  fs.writeFileSync(path.join(bundle, 'shim.pid'), String(child.pid), { mode: 0o600 });
  writeAddress(bundle, address);
  return { address, pid: child.pid };
}

/**
 * `start` that becomes the server itself instead of launching a second
 * process: half the start-up cost. Only for a daemon that knows to stop
 * reading at end-of-file on stdout and stderr rather than waiting for exit
 * (berthd asks for it with BERTH_SHIM_INLINE_START=1; containerd never does).
 * `serve` listens and returns; then the address is printed and stdio handed
 * over (stdin and stdout to /dev/null, stderr to the bundle's log FIFO), which
 * is the daemon's end-of-file. Returns false when an existing shim was reused
 * (the caller prints the address and exits, as plain `start` does).
 */
export async function startInline(
  flags: ShimFlags,
  serve: (flags: ShimFlags) => Promise<void>,
  handOver: (stdin: number, stdout: number, stderr: number) => void,
): Promise<{ address: string; serving: boolean }> {
  const { bundle, socket, address, reuse } = await planStart(flags);
  if (reuse) return { address, serving: false };
  try {
    await serve({ ...flags, bundle, socket });
  } catch (err) {
    // Lost a race with a concurrent start of the same group: use the winner.
    if (await acceptsConnections(socket)) {
      writeAddress(bundle, address);
      return { address, serving: false };
    }
    throw err;
  }
  fs.writeFileSync(path.join(bundle, 'shim.pid'), String(process.pid), { mode: 0o600 });
  writeAddress(bundle, address);
  fs.writeSync(1, address);
  const devNull = fs.openSync('/dev/null', 'r+');
  const log = openShimLog(bundle);
  handOver(devNull, devNull, typeof log === 'number' ? log : devNull);
  fs.closeSync(devNull);
  if (typeof log === 'number') fs.closeSync(log);
  return { address, serving: true };
}
