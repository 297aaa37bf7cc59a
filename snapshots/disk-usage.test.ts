import { link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { diskUsage } from './disk-usage.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'berth-du-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('counts each inode once, hardlinks included, and allocated bytes', async () => {
  const empty = await diskUsage(dir);
  expect(empty.inodes).toBe(1);
  await writeFile(path.join(dir, 'big'), Buffer.alloc(128 * 1024, 1));
  await link(path.join(dir, 'big'), path.join(dir, 'big-link'));
  await mkdir(path.join(dir, 'sub'));
  await symlink('big', path.join(dir, 'sub', 'ln'));
  const u = await diskUsage(dir);
  expect(u.inodes).toBe(4); // root, big (twice linked), sub, ln
  expect(u.size - empty.size).toBeGreaterThanOrEqual(128 * 1024);
  expect(u.size - empty.size).toBeLessThan(2 * 128 * 1024);
});
