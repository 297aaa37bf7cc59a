// Builds the tar header for a file on disk. Only what the layer must carry is
// read (type, owner, mode, mtime, link target, device numbers, xattrs); names
// of users and groups are left out so the output does not depend on the host.

import fs from 'node:fs';
import { lgetxattr, llistxattr } from '../../native/index.js';
import type { EntryType } from './tar-format.js';
import type { WriteHeader } from './tar-writer.js';

/** Xattrs that describe the overlay encoding itself, never layer content. */
const SKIPPED_XATTR_PREFIX = 'trusted.overlay.';

/** What the diff needs from lstat, with nanosecond times (BigIntStats, flattened). */
export interface FileMeta {
  type: EntryType | null;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  rdev: number;
  nlink: number;
  /** `${dev}:${ino}`, to spot hard links. */
  inode: string;
  mtimeNs: bigint;
}

export function entryType(st: fs.BigIntStats | fs.Stats): EntryType | null {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return null; // sockets are not carried in layers
}

/** lstat of p, or null when it does not exist. */
export function lstatMeta(p: string): FileMeta | null {
  const st = fs.lstatSync(p, { bigint: true, throwIfNoEntry: false });
  if (!st) return null;
  return {
    type: entryType(st),
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    rdev: Number(st.rdev),
    nlink: Number(st.nlink),
    inode: `${st.dev}:${st.ino}`,
    mtimeNs: st.mtimeNs,
  };
}

/** Major and minor from the Linux dev_t encoding (glibc's gnu_dev_major/minor). */
export function splitDev(rdev: number): { major: number; minor: number } {
  const hi = Math.floor(rdev / 2 ** 32);
  const lo = rdev >>> 0;
  return {
    major: ((lo >>> 8) & 0xfff) | ((hi & ~0xfff) >>> 0),
    minor: (lo & 0xff) | ((lo >>> 12) & 0xfff00),
  };
}

export function readXattrs(p: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let names: string[];
  try {
    names = llistxattr(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') return out;
    throw err;
  }
  for (const name of names.sort()) {
    if (name.startsWith(SKIPPED_XATTR_PREFIX)) continue;
    const value = lgetxattr(p, name);
    if (value) out.set(name, value);
  }
  return out;
}

/**
 * Header for `p` named `name` in the archive. `mtime` overrides the file's
 * own modification time (seconds), for reproducible output.
 */
export function headerFor(
  p: string,
  name: string,
  st: FileMeta,
  mtime?: number,
): WriteHeader | null {
  const type = st.type;
  if (!type) return null;
  const h: WriteHeader = {
    name,
    type,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: type === 'file' ? st.size : 0,
    mtime: mtime ?? Number(st.mtimeNs / 1_000_000_000n),
  };
  if (type === 'symlink') h.linkname = fs.readlinkSync(p);
  if (type === 'char' || type === 'block') {
    const { major, minor } = splitDev(st.rdev);
    h.devmajor = major;
    h.devminor = minor;
  }
  const xattrs = readXattrs(p);
  if (xattrs.size) h.xattrs = xattrs;
  return h;
}
