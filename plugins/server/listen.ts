import { chmod, chown, mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { errFailedPrecondition } from '../../core/errors/catalogue.js';

/** True when something accepts connections on the unix socket path. */
export function socketInUse(file: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(file);
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(timeoutMs, () => done(false));
  });
}

/** Makes the directory, refuses a live socket, and removes a stale one. */
export async function prepareSocketPath(file: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o711 });
  if (await socketInUse(file)) {
    throw errFailedPrecondition(`address ${file} is in use by another process`);
  }
  await rm(file, { force: true });
}

export async function secureSocket(file: string, mode: number, uid: number, gid: number) {
  await chown(file, uid, gid);
  await chmod(file, mode);
}
