// Temporary directories that are removed by the run's Cleanup (or earlier).

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Cleanup } from './cleanup.js';

export interface TempDir {
  path: string;
  /** Removes it now instead of at the end of the run. */
  remove(): Promise<void>;
}

/** A fresh directory under the system temp dir (short, so socket paths fit in 108 bytes). */
export async function tempDir(cleanup: Cleanup, prefix = 'berth-bench-'): Promise<TempDir> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const removal = cleanup.defer(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  return { path: dir, remove: removal.now };
}
