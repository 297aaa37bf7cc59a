import { createHash } from 'node:crypto';
import path from 'node:path';

/** Where shim sockets live; short so every path stays under the 108-byte sun_path limit. */
export const SOCKET_DIR = '/run/berth/s';

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
 * or namespaces never collide and the path length is fixed (77 bytes).
 */
export function socketPath(
  daemonAddress: string,
  namespace: string,
  group: string,
  dir = SOCKET_DIR,
): string {
  const digest = createHash('sha256')
    .update(path.join(daemonAddress, namespace, group))
    .digest('hex');
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
