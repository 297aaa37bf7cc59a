import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Usage } from '../core/snapshots/types.js';

/**
 * Disk usage of a tree as containerd reports it: every inode counted once
 * (hardlinks included), size as allocated blocks times 512.
 */
export async function diskUsage(root: string): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0n;
  const visit = async (p: string): Promise<void> => {
    const st = await lstat(p, { bigint: true });
    const id = `${st.dev}:${st.ino}`;
    if (!seen.has(id)) {
      seen.add(id);
      size += st.blocks * 512n;
    }
    if (st.isDirectory()) {
      for (const name of await readdir(p)) await visit(path.join(p, name));
    }
  };
  await visit(root);
  return { size: Number(size), inodes: seen.size };
}
