// Pinned network namespaces for pods: `<state>/netns/<id>`, a bind mount of the
// namespace file so it outlives every process in it (and the daemon).

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { errInternal } from '../../api/errors.js';
import { MNT, umount2 } from '../../native/index.js';

const run = promisify(execFile);

function pinScript(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const js = path.join(here, 'netns-pin.js');
  if (existsSync(js)) return js;
  throw errInternal(`network namespace helper ${js} is missing (run npm run build)`);
}

export async function createNetns(dir: string, id: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, id);
  await fs.writeFile(file, '', { flag: 'wx' });
  try {
    await run(process.execPath, [pinScript(), file], { timeout: 10_000 });
  } catch (err) {
    await fs.rm(file, { force: true });
    const e = err as { stderr?: string; message: string };
    throw errInternal(`creating network namespace ${file}: ${e.stderr?.trim() || e.message}`);
  }
  return file;
}

/** Unpins and removes the namespace file; a missing one is not an error. */
export async function removeNetns(file: string): Promise<void> {
  try {
    umount2(file, MNT.DETACH);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOENT') throw err;
  }
  await fs.rm(file, { force: true });
}

/** True when `file` is a pinned namespace (a mount of nsfs), not just an empty file. */
export async function isPinnedNetns(file: string): Promise<boolean> {
  try {
    const st = await fs.stat(file);
    return st.dev !== (await fs.stat(path.dirname(file))).dev;
  } catch {
    return false;
  }
}
