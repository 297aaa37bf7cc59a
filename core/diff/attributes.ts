// Ownership, permissions, extended attributes and times of applied entries.
// Order matters: chown clears setuid/setgid and security.capability, so it comes
// first, then the mode, then xattrs; times last because every other change
// touches ctime/mtime bookkeeping.

import fs from 'node:fs';
import { lsetxattr } from '../../native/index.js';
import type { TarHeader } from './tar-format.js';

/** Sets xattrs from the header. Unsupported ones are skipped as containerd does. */
export function applyXattrs(p: string, h: TarHeader): void {
  for (const [name, value] of h.xattrs) {
    try {
      lsetxattr(p, name, value);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // the filesystem has no xattr support, or an LSM refuses security.* labels
      if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') continue;
      if (code === 'EPERM' && name.startsWith('security.')) continue;
      throw err;
    }
  }
}

/** Owner, mode and xattrs of a path that is known not to be a symlink. */
export function applyPathAttributes(p: string, h: TarHeader): void {
  fs.lchownSync(p, h.uid, h.gid);
  fs.chmodSync(p, h.mode & 0o7777);
  applyXattrs(p, h);
}

/** Owner and xattrs of a symlink; symlink permission bits have no meaning on Linux. */
export function applySymlinkAttributes(p: string, h: TarHeader): void {
  fs.lchownSync(p, h.uid, h.gid);
  applyXattrs(p, h);
}

/** Owner, mode and xattrs through an open descriptor of a file just written. */
export function applyFileAttributes(fd: number, p: string, h: TarHeader): void {
  fs.fchownSync(fd, h.uid, h.gid);
  fs.fchmodSync(fd, h.mode & 0o7777);
  applyXattrs(p, h);
}

export function entryTimes(h: TarHeader): { atime: number; mtime: number } {
  return { atime: h.atime ?? h.mtime, mtime: h.mtime };
}
