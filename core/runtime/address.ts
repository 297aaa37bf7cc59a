import fs from 'node:fs';
import net from 'node:net';
import { createHash } from 'node:crypto';
import path from 'node:path';

/** Where shim sockets live when the daemon names no directory of its own. */
export const SOCKET_DIR = '/run/berth/s';

/**
 * The environment variable by which a daemon puts its shims' sockets under its
 * own state directory, so two daemons on one host share nothing at run time.
 */
export const SOCKET_DIR_ENV = 'BERTH_SHIM_SOCKET_DIR';

/** Longest unix socket path (sun_path is 108 bytes with its terminating NUL). */
export const MAX_SOCKET_PATH = 107;

/** Hex digits of a socket name: 128 bits, so `<dir>/<name>` leaves room for the dir. */
const SOCKET_NAME_HEX = 32;

/** The socket directory the daemon chose for this shim ($BERTH_SHIM_SOCKET_DIR), else SOCKET_DIR. */
export function shimSocketDir(env: NodeJS.ProcessEnv = process.env): string {
  return env[SOCKET_DIR_ENV] || SOCKET_DIR;
}

/**
 * The socket directory for a daemon whose state lives in `stateDir`:
 * `<state>/s`, unless that is too long for a socket path under it, when the
 * host-wide SOCKET_DIR is used (names there still differ by daemon address).
 */
export function daemonSocketDir(stateDir: string): string {
  const dir = path.join(stateDir, 's');
  return dir.length + 1 + SOCKET_NAME_HEX <= MAX_SOCKET_PATH ? dir : SOCKET_DIR;
}

/** Default runc state root; the namespace is appended (`/run/berth/runc/<ns>`). */
export const RUNC_ROOT = '/run/berth/runc';

/** Annotations that put several containers into one shim (CRI pods, explicit groups). */
export const GROUP_ANNOTATIONS = ['io.containerd.runc.v2.group', 'io.kubernetes.cri.sandbox-id'];

/** The grouping key from an OCI spec's annotations, else the container id itself. */
export function groupKey(
  spec: { annotations?: Record<string, string> } | undefined,
  id: string,
): string {
  for (const key of GROUP_ANNOTATIONS) {
    const v = spec?.annotations?.[key];
    if (v) return v;
  }
  return id;
}

/**
 * Socket path for (daemon address, namespace, group): a hash, so two daemons
 * or namespaces never collide and the name's length is fixed.
 */
export function socketPath(
  daemonAddress: string,
  namespace: string,
  group: string,
  dir = shimSocketDir(),
): string {
  const digest = createHash('sha256')
    .update(path.join(daemonAddress, namespace, group))
    .digest('hex')
    .slice(0, SOCKET_NAME_HEX);
  return path.join(dir, digest);
}

export function toAddress(socket: string): string {
  return `unix://${socket}`;
}

export function fromAddress(address: string): string {
  return address.startsWith('unix://') ? address.slice('unix://'.length) : address;
}

/** The daemon's ttrpc endpoint: $TTRPC_ADDRESS, else `<grpc address>.ttrpc`. */
export function ttrpcEventsAddress(env: NodeJS.ProcessEnv, daemonAddress: string): string {
  if (env.TTRPC_ADDRESS) return env.TTRPC_ADDRESS;
  return daemonAddress ? `${daemonAddress}.ttrpc` : '';
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

/** Where a task's shim listens, and whether a shim serves there already. */
export interface ShimSocketPlan {
  /** The task's group: its pod (or explicit group), else the task itself. */
  group: string;
  socket: string;
  /** `unix://<socket>`, what `start` prints and the bundle's `address` holds. */
  address: string;
  /** A shim of the group answers on the socket: it serves this task too. */
  running: boolean;
}

/**
 * The one decision of which shim serves a task, made the same way by the
 * daemon (to skip a start when the group's shim runs) and by `berth-shim
 * start` (to bind the socket, or hand over to the shim already on it): one
 * socket per daemon address, namespace and group.
 */
export async function planShimSocket(o: {
  /** The daemon's address (the shim's -address). */
  daemonAddress: string;
  namespace: string;
  id: string;
  /** The task's OCI spec; its annotations name the group. */
  spec: { annotations?: Record<string, string> } | undefined;
  socketDir: string;
}): Promise<ShimSocketPlan> {
  const group = groupKey(o.spec, o.id);
  const socket = socketPath(o.daemonAddress, o.namespace, group, o.socketDir);
  const running = fs.existsSync(socket) && (await acceptsConnections(socket));
  return { group, socket, address: toAddress(socket), running };
}
