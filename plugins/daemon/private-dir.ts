// Directories berthd owns: made with a fixed mode, and tightened to it when
// they already exist with a looser one (a state dir someone made 0755 by hand,
// or left from an older install), since what lives there (sockets, bundles,
// container specs, databases) is no business of other users.

import { chmod, mkdir, stat } from 'node:fs/promises';

/**
 * Makes `dir` (and missing parents) with `mode`; an existing `dir` that grants
 * any permission `mode` does not is chmod-ed to `mode`. Returns the mode it
 * had when it was loosened, so the caller can say so, else undefined.
 */
export async function ensurePrivateDir(dir: string, mode: number): Promise<number | undefined> {
  await mkdir(dir, { recursive: true, mode });
  const had = (await stat(dir)).mode & 0o7777;
  if ((had & ~mode) === 0) return undefined;
  await chmod(dir, mode);
  return had;
}
