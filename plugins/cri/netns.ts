// Pinned network namespaces for pods: `<state>/netns/<id>`, a bind mount of the
// namespace file so it outlives every process in it (and the daemon). Unpinning
// and the pin check serve a pod's other pinned namespaces too (pod-namespaces.ts).

import fs from 'node:fs/promises';
import path from 'node:path';
import { errInternal } from '../../core/errors/catalogue.js';
import { traceStep } from '../../core/tracing/active-span.js';
import { MNT, pinNetns, umount2 } from '../../native/index.js';

export function createNetns(dir: string, id: string): Promise<string> {
  return traceStep('netns create', () => pinNew(dir, id));
}

async function pinNew(dir: string, id: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, id);
  await fs.writeFile(file, '', { flag: 'wx' });
  try {
    // On a thread of its own: the daemon's namespaces are never touched.
    await pinNetns(file);
  } catch (err) {
    await fs.rm(file, { force: true });
    throw errInternal(`creating network namespace ${file}: ${(err as Error).message}`);
  }
  return file;
}

/** Unpins and removes the namespace file; a missing one is not an error. */
export function removeNetns(file: string): Promise<void> {
  return traceStep('netns remove', () => unpinNamespaceFile(file));
}

/** Unmounts a pinned namespace file and removes it; a missing one is not an error. */
export async function unpinNamespaceFile(file: string): Promise<void> {
  try {
    umount2(file, MNT.DETACH);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOENT') throw err;
  }
  await fs.rm(file, { force: true });
}

/** True when `file` is a pinned namespace (a mount of nsfs), not just an empty file. */
export async function isPinnedNamespace(file: string): Promise<boolean> {
  try {
    const st = await fs.stat(file);
    return st.dev !== (await fs.stat(path.dirname(file))).dev;
  } catch {
    return false;
  }
}
