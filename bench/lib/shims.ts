// Starting a runtime v2 shim binary as a daemon does, without the daemon:
// a bundle with config.json and the `log` FIFO, `<shim> -namespace … -id … start`
// run in it (the tasks plugin's own runShimStart), then a ttrpc connection to
// the address it printed. Stopping is Shutdown, waiting for the server pid,
// and the `delete` subcommand, as the daemon's cleanup path runs it.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { defaultSpec } from '../../core/oci/default-spec.js';
import { type ConnectResponse, TaskDefinition } from '../../api/gen/containerd/task/v2/shim.js';
import { TtrpcClient, makeClient, type TypedClient } from '../../core/ttrpc/client.js';
import { S_IF, mknod } from '../../native/index.js';
import type { ShimCommand } from '../../core/runtime/binary.js';
import {
  type ShimInvocation,
  runShimDelete,
  runShimStart,
} from '../../core/runtime/shim-process.js';
import type { SpareProcess } from '../../core/runtime/shim-spares.js';
import type { Cleanup } from './cleanup.js';
import { isAlive, readPidFile, terminate, waitForExit } from './processes.js';

export const TTRPC_NAMESPACE_KEY = 'containerd-namespace-ttrpc';

/** What every shim of a run shares: the namespace and the daemon addresses it is told about. */
export interface ShimHost {
  /** Directory for bundles. */
  dir: string;
  namespace: string;
  /** The daemon gRPC address passed as -address (nothing needs to listen there). */
  address: string;
  /** The daemon ttrpc address passed as TTRPC_ADDRESS (an EventSink listens there). */
  ttrpcAddress: string;
  /** Passed as -publish-binary. */
  publishBinary: string;
}

export interface RunningShim {
  id: string;
  bundle: string;
  /** The address `start` printed. */
  address: string;
  /** The long-running server's pid, from the Connect answer. */
  pid: number;
  /** Spawn of `start` → `start` exited with the address on stdout. */
  startMs: number;
  /** Spawn of `start` → the first Task/Connect answer. */
  readyMs: number;
  connect: ConnectResponse;
  task: TypedClient<typeof TaskDefinition>;
  /** What the server wrote to the bundle's log FIFO (its tail). */
  log(): string;
  /** Shutdown, wait for the server, run `delete`, remove the bundle; resolves with delete's duration. */
  stop(): Promise<{ deleteMs: number }>;
}

const LOG_TAIL = 16 * 1024;

/** The bundle's `log` FIFO held open read-write (as containerd does), drained into a tail buffer. */
function openLogFifo(bundle: string): { tail(): string; close(): void } {
  const p = path.join(bundle, 'log');
  mknod(p, S_IF.FIFO | 0o600);
  const fd = fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  const sock = new net.Socket({ fd, readable: true, writable: false });
  let text = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => {
    text += d;
    if (text.length > LOG_TAIL) text = text.slice(-LOG_TAIL);
  });
  sock.on('error', () => {});
  return { tail: () => text, close: () => sock.destroy() };
}

export function shimCommand(binary: string): ShimCommand {
  return { path: binary, command: binary, args: [] };
}

/** How `start` is run: containerd's way (two processes), or berthd's for its own shim. */
export interface StartMode {
  /** One process: `start` becomes the server (berthd's inline start). */
  inline?: boolean;
  /** An already running spare is handed the arguments (berthd's spare shims; implies inline). */
  spare?: SpareProcess;
}

export async function launchShim(
  command: ShimCommand,
  host: ShimHost,
  id: string,
  cleanup: Cleanup,
  mode: StartMode = {},
): Promise<RunningShim> {
  const bundle = path.join(host.dir, id);
  fs.mkdirSync(path.join(bundle, 'rootfs'), { recursive: true });
  fs.writeFileSync(
    path.join(bundle, 'config.json'),
    JSON.stringify(defaultSpec({ id, namespace: host.namespace })),
  );
  // The runc binary name a shim records at Create. containerd-shim-runc-v2's `delete`
  // fails without it; with it both shims' `delete` does the same work (a forced
  // `runc delete` of a container that was never created).
  fs.writeFileSync(path.join(bundle, 'runtime'), 'runc');
  const log = openLogFifo(bundle);
  const inv: ShimInvocation = {
    command,
    namespace: host.namespace,
    id,
    bundlePath: bundle,
    address: host.address,
    ttrpcAddress: host.ttrpcAddress,
    publishBinary: host.publishBinary,
  };

  let client: TtrpcClient | undefined;
  let serverPid: number | undefined;
  let socket: string | undefined;
  // Whatever happens from here on, the server goes and its bundle with it.
  const teardown = async (): Promise<{ deleteMs: number }> => {
    const task = client ? makeClient(TaskDefinition, client) : undefined;
    if (task && !client!.closed) {
      // The server drops the connection when it exits, so this may fail after it acted.
      await task.shutdown({ id, now: true }, { timeoutMs: 2000 }).catch(() => {});
    }
    client?.close();
    for (const pid of new Set([serverPid, readPidFile(path.join(bundle, 'shim.pid'))])) {
      if (pid && !(await waitForExit(pid, 3000))) await terminate(pid, { signal: 'SIGKILL' });
    }
    try {
      const d0 = performance.now();
      await runShimDelete(inv, 10_000);
      return { deleteMs: performance.now() - d0 };
    } finally {
      // A server that died without unlinking its socket leaves it behind; it is ours (the
      // path hashes our private -address), so remove it if nothing answers there.
      if (socket && fs.existsSync(socket) && !(await answers(socket))) {
        fs.rmSync(socket, { force: true });
      }
      log.close();
      fs.rmSync(bundle, { recursive: true, force: true });
    }
  };
  let stopped: { deleteMs: number } | undefined;
  const stopAtCleanup = cleanup.defer(`stop shim ${id}`, async () => {
    stopped = await teardown();
  });

  try {
    const t0 = performance.now();
    const started = await runShimStart(inv, {
      timeoutMs: 10_000,
      inline: Boolean(mode.inline || mode.spare),
      spare: mode.spare,
    });
    const startMs = performance.now() - t0;
    socket = started.socket.startsWith('\0') ? undefined : started.socket;
    client = await TtrpcClient.connect(started.socket, { timeoutMs: 2000 });
    const task = makeClient(TaskDefinition, client);
    const connect = await task.connect(
      { id },
      { timeoutMs: 2000, metadata: { [TTRPC_NAMESPACE_KEY]: host.namespace } },
    );
    const readyMs = performance.now() - t0;
    serverPid = connect.shimPid || readPidFile(path.join(bundle, 'shim.pid'));
    if (!serverPid || !isAlive(serverPid)) throw new Error(`shim ${id}: no live server pid`);
    return {
      id,
      bundle,
      address: started.address,
      pid: serverPid,
      startMs,
      readyMs,
      connect,
      task,
      log: log.tail,
      async stop() {
        await stopAtCleanup.now();
        if (!stopped) throw new Error(`shim ${id} was already torn down by cleanup`);
        return stopped;
      },
    };
  } catch (err) {
    const tail = log.tail().trim();
    // The start failure is the news; a clean-up failure after it would only hide it.
    await stopAtCleanup.now().catch(() => {});
    throw tail ? new Error(`${(err as Error).message}\nshim log:\n${tail}`) : err;
  }
}

function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socket);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
