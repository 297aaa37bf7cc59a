import {
  chmod,
  chown,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { lgetxattr, lsetxattr, makedev, mknod, S_IF } from '../native/index.js';
import { copyTree } from './copy-tree.js';

const isRoot = process.getuid?.() === 0;
let dir: string;
let src: string;
let dst: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'berth-copy-'));
  src = path.join(dir, 'src');
  dst = path.join(dir, 'dst');
  await mkdir(src);
  await mkdir(dst);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('copies files, directories, symlinks, hardlinks, FIFOs, modes, times and xattrs', async () => {
  await mkdir(path.join(src, 'bin'));
  await writeFile(path.join(src, 'bin', 'tool'), 'exec');
  await chmod(path.join(src, 'bin', 'tool'), 0o4755);
  await mkdir(path.join(src, 'tmp'));
  await chmod(path.join(src, 'tmp'), 0o1777);
  await symlink('bin/tool', path.join(src, 'link'));
  await symlink('/does/not/exist', path.join(src, 'dangling'));
  await link(path.join(src, 'bin', 'tool'), path.join(src, 'hard'));
  mknod(path.join(src, 'fifo'), S_IF.FIFO | 0o640);
  lsetxattr(path.join(src, 'bin', 'tool'), 'user.berth', Buffer.from('v'));
  await utimes(path.join(src, 'bin', 'tool'), 1_000_000, 1_000_000);
  await chmod(src, 0o750);

  await copyTree(src, dst);

  expect(await readFile(path.join(dst, 'bin', 'tool'), 'utf8')).toBe('exec');
  expect((await stat(path.join(dst, 'bin', 'tool'))).mode & 0o7777).toBe(0o4755);
  expect((await stat(path.join(dst, 'tmp'))).mode & 0o7777).toBe(0o1777);
  expect((await stat(dst)).mode & 0o7777).toBe(0o750);
  expect(await readlink(path.join(dst, 'link'))).toBe('bin/tool');
  expect(await readlink(path.join(dst, 'dangling'))).toBe('/does/not/exist');
  expect((await stat(path.join(dst, 'hard'))).ino).toBe(
    (await stat(path.join(dst, 'bin', 'tool'))).ino,
  );
  expect((await stat(path.join(dst, 'hard'))).ino).not.toBe(
    (await stat(path.join(src, 'hard'))).ino,
  );
  expect((await lstat(path.join(dst, 'fifo'))).isFIFO()).toBe(true);
  expect((await lstat(path.join(dst, 'fifo'))).mode & 0o7777).toBe(0o640);
  expect(lgetxattr(path.join(dst, 'bin', 'tool'), 'user.berth')?.toString()).toBe('v');
  expect((await stat(path.join(dst, 'bin', 'tool'))).mtimeMs).toBe(1_000_000_000);
});

it.skipIf(!isRoot)('copies ownership and device nodes (root)', async () => {
  await writeFile(path.join(src, 'owned'), 'x');
  await chown(path.join(src, 'owned'), 1234, 5678);
  await chmod(path.join(src, 'owned'), 0o2755);
  mknod(path.join(src, 'null'), S_IF.CHR | 0o666, makedev(1, 3));
  await symlink('owned', path.join(src, 'sl'));
  const { lchown } = await import('node:fs/promises');
  await lchown(path.join(src, 'sl'), 42, 43);

  await copyTree(src, dst);

  const st = await stat(path.join(dst, 'owned'));
  expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1234, 5678, 0o2755]);
  const dev = await lstat(path.join(dst, 'null'));
  expect(dev.isCharacterDevice()).toBe(true);
  expect(dev.rdev).toBe(makedev(1, 3));
  const sl = await lstat(path.join(dst, 'sl'));
  expect([sl.uid, sl.gid]).toEqual([42, 43]);
});
