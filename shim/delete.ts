// `berth-shim delete`: clean up after a shim that is gone (the daemon calls it
// when the connection dropped or a reconnect failed). Force-deletes the runc
// container, unmounts the rootfs, and answers with a DeleteResponse on stdout
// (exit status 137: as far as anyone can tell, the task was killed).

import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { DeleteResponse } from '../api/gen/containerd/task/v2/shim.js';
import { nowTimestamp } from '../core/protobuf/timestamp.js';
import type { ShimFlags } from './flags.js';
import { unmountAll } from '../core/mount/index.js';
import { readOptions, runcBinary, runcRoot } from './options.js';
import { Runc } from './runc.js';
import { acceptsConnections } from '../core/runtime/address.js';
import { fromAddress } from '../core/runtime/address.js';

const SIGKILL_STATUS = 128 + 9;

export async function deleteShim(
  flags: ShimFlags,
  warn: (msg: string) => void,
): Promise<Uint8Array> {
  if (!flags.namespace) throw new Error('-namespace is required');
  if (!flags.id) throw new Error('-id is required');
  const bundle = flags.bundle || process.cwd();
  const options = readOptions(bundle);
  const runc = new Runc({
    binary: runcBinary(options),
    root: runcRoot(options, flags.namespace),
    log: path.join(bundle, 'log.json'),
    systemdCgroup: options.systemdCgroup,
  });

  // The init was orphaned to whoever reaps for the dead server (an ancestor subreaper or pid 1).
  try {
    await runc.delete(flags.id, true);
  } catch (err) {
    warn(`failed to remove runc container: ${(err as Error).message}`);
  }
  try {
    unmountAll(path.join(bundle, 'rootfs'));
  } catch (err) {
    warn(`failed to unmount the rootfs: ${(err as Error).message}`);
  }
  await removeDeadSocket(bundle);

  let pid = 0;
  try {
    pid = Number.parseInt(readFileSync(path.join(bundle, 'init.pid'), 'utf8').trim(), 10) || 0;
  } catch {
    /* never created */
  }
  return DeleteResponse.encode({
    pid,
    exitStatus: SIGKILL_STATUS,
    exitedAt: nowTimestamp(),
  }).finish();
}

/** The dead server's socket file; left alone if something still answers on it (a grouped shim). */
async function removeDeadSocket(bundle: string): Promise<void> {
  let socket: string;
  try {
    socket = fromAddress(readFileSync(path.join(bundle, 'address'), 'utf8').trim());
  } catch {
    return;
  }
  if (!socket.startsWith('/') || (await acceptsConnections(socket))) return;
  rmSync(socket, { force: true });
}
