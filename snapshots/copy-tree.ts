// Copying a directory tree with its metadata, for the native snapshotter:
// modes (incl. setuid/sticky), ownership, timestamps, symlinks, hardlinks
// (kept as links within the copy), xattrs, FIFOs and device nodes.

import { constants, type BigIntStats } from 'node:fs';
import {
  chmod,
  copyFile,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  readdir,
  readlink,
  symlink,
} from 'node:fs/promises';
import path from 'node:path';
import { lgetxattr, llistxattr, lsetxattr, mknod, S_IF } from '../native/index.js';

const PERM_BITS = 0o7777;

// Xattr namespaces that cannot or must not be copied verbatim: the kernel
// manages system.* (ACLs are copied by their own names elsewhere, if at all),
// and some filesystems refuse security.* for unprivileged writers.
const OPTIONAL_XATTR = /^(security|system)\./;

function copyXattrs(src: string, dst: string): void {
  let names: string[];
  try {
    names = llistxattr(src);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTSUP') return;
    throw err;
  }
  for (const name of names) {
    const value = lgetxattr(src, name);
    if (value === null) continue;
    try {
      lsetxattr(dst, name, value);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (OPTIONAL_XATTR.test(name) || code === 'ENOTSUP') continue;
      throw err;
    }
  }
}

/** Ownership, xattrs, mode and times of `st` onto dst; chmod after chown keeps setuid bits. */
async function copyMetadata(src: string, dst: string, st: BigIntStats): Promise<void> {
  await lchown(dst, Number(st.uid), Number(st.gid));
  copyXattrs(src, dst);
  if (!st.isSymbolicLink()) await chmod(dst, Number(st.mode) & PERM_BITS);
  const atime = Number(st.atimeNs) / 1e9;
  const mtime = Number(st.mtimeNs) / 1e9;
  await lutimes(dst, atime, mtime);
}

async function copyEntry(src: string, dst: string, links: Map<string, string>): Promise<void> {
  const st = await lstat(src, { bigint: true });
  if (st.isDirectory()) {
    await mkdir(dst, { mode: 0o700 });
    await copyContents(src, dst, links);
    await copyMetadata(src, dst, st);
    return;
  }
  if (st.nlink > 1n) {
    const id = `${st.dev}:${st.ino}`;
    const first = links.get(id);
    if (first) {
      await link(first, dst);
      return;
    }
    links.set(id, dst);
  }
  const perm = Number(st.mode) & PERM_BITS;
  if (st.isFile()) {
    await copyFile(src, dst, constants.COPYFILE_FICLONE);
  } else if (st.isSymbolicLink()) {
    await symlink(await readlink(src), dst);
  } else if (st.isFIFO()) {
    mknod(dst, S_IF.FIFO | perm);
  } else if (st.isCharacterDevice()) {
    mknod(dst, S_IF.CHR | perm, Number(st.rdev));
  } else if (st.isBlockDevice()) {
    mknod(dst, S_IF.BLK | perm, Number(st.rdev));
  } else {
    // Sockets belong to the process that bound them; a copy would be meaningless.
    links.delete(`${st.dev}:${st.ino}`);
    return;
  }
  await copyMetadata(src, dst, st);
}

async function copyContents(src: string, dst: string, links: Map<string, string>): Promise<void> {
  for (const name of await readdir(src)) {
    await copyEntry(path.join(src, name), path.join(dst, name), links);
  }
}

/**
 * Copies the contents of the directory src into the existing directory dst,
 * then gives dst src's ownership, mode, xattrs and times.
 */
export async function copyTree(src: string, dst: string): Promise<void> {
  const st = await lstat(src, { bigint: true });
  if (!st.isDirectory()) throw new Error(`copy source ${src} is not a directory`);
  await copyContents(src, dst, new Map());
  await copyMetadata(src, dst, st);
}
