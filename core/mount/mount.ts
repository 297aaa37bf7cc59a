// Mounting a Mount[] at a target (a task's rootfs, a snapshot to read or write)
// and taking it down again: the one implementation the shim, the daemon's
// plugins, the client and the tests share.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { errFailedPrecondition, errInvalidArgument } from '../errors/catalogue.js';
import { MNT, MS, mount, umount2 } from '../../native/index.js';
import { compactLowerdir, PAGE_SIZE } from './compaction.js';
import { parseMountOptions } from './options.js';
import type { Mount } from './types.js';

/** Mounts one entry at target (made absolute, as a compacted overlay mounts from another cwd). */
export function mountOne(m: Mount, target: string): void {
  const abs = path.resolve(target);
  const { mount: compacted, chdir } = compactLowerdir(m);
  if (!chdir) {
    mountSyscalls(compacted, abs);
    return;
  }
  // Safe: mount is synchronous on the only JS thread, and every other path is absolute.
  const cwd = process.cwd();
  process.chdir(chdir);
  try {
    mountSyscalls(compacted, abs);
  } finally {
    process.chdir(cwd);
  }
}

function mountSyscalls(m: Mount, target: string): void {
  const type = m.type === 'rbind' ? 'bind' : m.type;
  const opts = parseMountOptions(m.type === 'rbind' ? [...m.options, 'rbind'] : m.options);
  let flags = opts.flags;
  if (type === 'bind') flags |= MS.BIND;
  const isBind = (flags & MS.BIND) !== 0;
  const data = opts.data.join(',');
  // The kernel copies one page of data, terminator included, and would cut the rest.
  if (Buffer.byteLength(data) >= PAGE_SIZE)
    throw errInvalidArgument(`${type} mount options for ${target} exceed one page`);

  if (isBind) {
    mount(m.source, target, null, flags & ~MS.RDONLY, data || null);
    // A bind mount ignores MS_RDONLY and friends until remounted.
    if (flags & (MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC))
      mount(null, target, null, (flags & ~MS.REC) | MS.REMOUNT | MS.BIND, null);
  } else {
    mount(m.source || type, target, type, flags, data || null);
  }
  if (opts.propagation) mount(null, target, null, opts.propagation, null);
}

/** Mounts every entry in order at target (created if missing; later mounts stack); all or nothing. */
export function mountAll(mounts: readonly Mount[], target: string): void {
  const abs = path.resolve(target);
  mkdirSync(abs, { recursive: true, mode: 0o711 });
  let mounted = 0;
  try {
    for (const m of mounts) {
      mountOne(m, abs);
      mounted++;
    }
  } catch (err) {
    if (mounted > 0) unmountAll(abs);
    throw err;
  }
}

/**
 * Lazily detaches everything stacked on target, so a busy mount cannot wedge a
 * delete. Nothing mounted there (EINVAL) or no target (ENOENT) is fine; any
 * other failure is an error, so callers never remove a tree still mounted.
 */
export function unmountAll(target: string): void {
  const abs = path.resolve(target);
  for (let i = 0; i < 64; i++) {
    try {
      umount2(abs, MNT.DETACH | MNT.UMOUNT_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException | undefined)?.code;
      if (code === 'EINVAL' || code === 'ENOENT') return;
      throw errFailedPrecondition(`unmount ${abs}: ${(err as Error).message}`, { cause: err });
    }
  }
}
