// Running a shim binary's `start` and `delete` subcommands the way containerd
// does (runtime v2): Go-style single-dash flags, the bundle as working
// directory, the runtime options on stdin of `start`, the address on its stdout,
// a DeleteResponse on the stdout of `delete`.

import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { BerthError, errDeadlineExceeded, errNotImplemented } from '../errors/catalogue.js';
import { Any } from '../../api/gen/google/protobuf/any.js';
import { DeleteResponse } from '../../api/gen/containerd/task/v2/shim.js';
import type { ShimCommand } from './binary.js';
import { cloexecFrom } from '../../native/index.js';
import { formatAssignment } from './spare-assignment.js';
import { SOCKET_DIR_ENV } from './address.js';

export interface ShimInvocation {
  command: ShimCommand;
  namespace: string;
  id: string;
  bundlePath: string;
  /** The daemon's gRPC socket. */
  address: string;
  /** The daemon's ttrpc socket, where shims forward events. */
  ttrpcAddress: string;
  /** Passed as -publish-binary; runtime v2 shims forward over ttrpc instead. */
  publishBinary: string;
  /** Directory for Berth's shim sockets ($BERTH_SHIM_SOCKET_DIR); other shims ignore it. */
  socketDir?: string;
  debug?: boolean;
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

function flags(inv: ShimInvocation): string[] {
  return [
    '-namespace',
    inv.namespace,
    '-address',
    inv.address,
    '-publish-binary',
    inv.publishBinary,
    '-id',
    inv.id,
    ...(inv.debug ? ['-debug'] : []),
  ];
}

/** The environment a shim command runs with, as containerd sets it. */
function shimEnv(inv: ShimInvocation): Record<string, string> {
  return {
    TTRPC_ADDRESS: inv.ttrpcAddress,
    GRPC_ADDRESS: inv.address,
    NAMESPACE: inv.namespace,
    MAX_SHIM_VERSION: '2',
    GOMAXPROCS: '2',
    ...(inv.socketDir ? { [SOCKET_DIR_ENV]: inv.socketDir } : {}),
  };
}

type ShimChild = ChildProcessByStdio<Writable, Readable, Readable>;

/**
 * SIGKILL to the shim's whole process group (every shim leads its own): a
 * hung start may have children of its own (a runtime it ran), which killing
 * the leader alone would leave to init.
 */
function killGroup(child: ShimChild): void {
  try {
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL'); // the group is gone already, or was never made
  }
}

interface RunOptions {
  inv: ShimInvocation;
  /** The shim's flags and subcommand. */
  args: string[];
  /** Written to the shim's stdin (the runtime options of `start`). */
  input: Uint8Array;
  timeoutMs: number;
  /** What runs, for errors: `shim start`, `shim delete`. */
  what: string;
  /** Done at end-of-file on stdout and stderr, without waiting for exit (inline start). */
  untilEof?: boolean;
  /** A spare `start` already running: it gets the arguments on stdin instead of `input`. */
  spare?: ShimChild;
}

function run(o: RunOptions): Promise<RunResult> {
  const { inv, args, timeoutMs, what, untilEof = false, spare } = o;
  if (spare && (spare.exitCode !== null || spare.signalCode !== null)) {
    // Died after it was taken: its 'close' may have fired already and would
    // never reach a listener added now. Report it as a start that read nothing.
    return Promise.resolve({
      code: spare.exitCode,
      signal: spare.signalCode,
      stdout: Buffer.alloc(0),
      stderr: '',
    });
  }
  if (!spare) cloexecFrom(3); // the shim gets its stdio, not the daemon's databases
  return new Promise((resolve, reject) => {
    const child: ShimChild =
      spare ??
      spawn(inv.command.command, [...inv.command.args, ...args], {
        cwd: inv.bundlePath,
        env: {
          ...process.env,
          ...shimEnv(inv),
          // Node prints warnings on stderr, which must not end up next to the address.
          NODE_NO_WARNINGS: '1',
          ...(untilEof ? { BERTH_SHIM_INLINE_START: '1' } : {}),
        },
        stdio: ['pipe', 'pipe', 'pipe'],
        // Its own process group, as containerd starts shims (Setpgid).
        detached: true,
      });
    const input = spare
      ? Buffer.from(formatAssignment({ args, env: shimEnv(inv), cwd: inv.bundlePath }))
      : o.input;
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 64 * 1024) stderr += d;
    });
    child.stdin.on('error', () => {}); // a shim that does not read its options
    child.stdin.end(input);
    const timer = setTimeout(() => {
      killGroup(child);
      const output = (Buffer.concat(out).toString() + stderr).trim();
      reject(
        errDeadlineExceeded(
          `${what} ${inv.command.path} for ${inv.namespace}/${inv.id} did not finish within ${timeoutMs} ms${output ? `: ${output}` : ''}`,
        ),
      );
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(
        new BerthError('Unavailable', `${what} ${inv.command.path}: ${err.message}`, {
          cause: err,
        }),
      );
    });
    // 'close' is exit plus end of file on both pipes: a server that kept start's
    // stdout open would hang here, as it hangs containerd.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr });
    });
    if (untilEof) {
      // An inline start keeps running as the server once it has printed the
      // address and let go of both pipes. Pipes of a process that exits also
      // end, usually before its exit is seen: with nothing printed, 'close'
      // reports the exit (status and stderr) instead.
      let open = 2;
      const ended = () => {
        if (--open > 0 || out.length === 0) return;
        if (child.exitCode !== null || child.signalCode !== null) return;
        clearTimeout(timer);
        child.removeAllListeners('close');
        child.unref();
        resolve({ code: 0, signal: null, stdout: Buffer.concat(out), stderr });
      };
      child.stdout.once('end', ended);
      child.stderr.once('end', ended);
    }
  });
}

export interface StartedShim {
  /** Address to dial: a socket path, or `\0…` for an abstract socket. */
  socket: string;
  /** The address as the shim printed it (what `address` holds). */
  address: string;
}

/** Parses what `start` prints: a plain address, or 2.x's JSON bootstrap `{version,address,protocol}`. */
export function parseStartOutput(output: string): StartedShim {
  let address = output.trim();
  if (address.startsWith('{')) {
    let boot: { version?: number; address?: string; protocol?: string };
    try {
      boot = JSON.parse(address);
    } catch {
      throw new BerthError('Unknown', `shim printed malformed bootstrap JSON: ${address}`);
    }
    if (boot.version !== 2) {
      throw errNotImplemented(
        `shim bootstrap version ${boot.version}: only task API v2 is supported`,
      );
    }
    if (boot.protocol && boot.protocol !== 'ttrpc') {
      throw errNotImplemented(`shim protocol ${boot.protocol}: only ttrpc is supported`);
    }
    address = String(boot.address ?? '');
  }
  if (address === '') throw new BerthError('Unknown', 'shim printed no address');
  return { address, socket: dialTarget(address) };
}

/** `unix:///path` is a filesystem socket; anything else is an abstract socket name (pre-1.5 shims). */
export function dialTarget(address: string): string {
  return address.startsWith('unix://') ? address.slice('unix://'.length) : `\0${address}`;
}

export interface ShimStartOptions {
  /** Runtime options, written to `start`'s stdin. */
  runtimeOptions?: Any;
  timeoutMs: number;
  /** The shim supports inline start (Berth's own): one process instead of two. */
  inline?: boolean;
  /** A spare of this shim to use instead of a new process (inline only). */
  spare?: ShimChild;
}

export async function runShimStart(inv: ShimInvocation, o: ShimStartOptions): Promise<StartedShim> {
  const inline = o.inline ?? false;
  const spare = inline ? o.spare : undefined;
  const start: RunOptions = {
    inv,
    args: [...flags(inv), 'start'],
    input: o.runtimeOptions ? Any.encode(o.runtimeOptions).finish() : new Uint8Array(),
    timeoutMs: o.timeoutMs,
    what: 'shim start',
    untilEof: inline,
  };
  let r = await run({ ...start, spare });
  if (spare && r.code !== 0 && r.stdout.length === 0 && r.stderr === '') {
    // The spare died before it read its assignment (killed meanwhile): start afresh.
    r = await run(start);
  }
  const stdout = r.stdout.toString();
  if (r.code !== 0) {
    const why = r.signal ? `signal ${r.signal}` : `exit status ${r.code}`;
    throw new BerthError(
      'Unknown',
      `start shim ${inv.command.path} for ${inv.namespace}/${inv.id}: ${why}: ${(stdout + r.stderr).trim()}`,
    );
  }
  return parseStartOutput(stdout);
}

export interface ShimDeleteResult {
  response: DeleteResponse;
  /** What the shim wrote on stderr, logged by the caller as warnings. */
  stderr: string;
}

export async function runShimDelete(
  inv: ShimInvocation,
  timeoutMs: number,
): Promise<ShimDeleteResult> {
  const r = await run({
    inv,
    args: [...flags(inv), '-bundle', inv.bundlePath, 'delete'],
    input: new Uint8Array(),
    timeoutMs,
    what: 'shim delete',
  });
  if (r.code !== 0) {
    const why = r.signal ? `signal ${r.signal}` : `exit status ${r.code}`;
    throw new BerthError(
      'Unknown',
      `shim delete ${inv.command.path} for ${inv.namespace}/${inv.id}: ${why}: ${r.stderr.trim()}`,
    );
  }
  let response: DeleteResponse;
  try {
    response = DeleteResponse.decode(r.stdout);
  } catch (err) {
    throw new BerthError('Unknown', `shim delete printed a malformed DeleteResponse`, {
      cause: err,
    });
  }
  return { response, stderr: r.stderr };
}
