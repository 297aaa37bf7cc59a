import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { errFailedPrecondition } from '../../core/errors/catalogue.js';
import { MNT, mount, umount2 } from '../../native/index.js';

/** containerd passes index=off whenever the overlay module knows the parameter. */
export function overlayIndexParameterExists(): boolean {
  return existsSync('/sys/module/overlay/parameters/index');
}

/**
 * Mounts a two-layer overlay in a scratch directory under `root` (so on the
 * filesystem the snapshots will live on) and reads through it. Throws
 * FailedPrecondition when overlayfs cannot be used there.
 */
export async function checkOverlaySupport(root: string): Promise<void> {
  await mkdir(root, { recursive: true });
  const dir = await mkdtemp(path.join(root, 'overlay-check-'));
  const merged = path.join(dir, 'merged');
  try {
    for (const d of ['lower1', 'lower2', 'upper', 'work', 'merged']) await mkdir(path.join(dir, d));
    await writeFile(path.join(dir, 'lower2', 'probe'), 'lower');
    try {
      mount(
        'overlay',
        merged,
        'overlay',
        0,
        `lowerdir=${dir}/lower1:${dir}/lower2,upperdir=${dir}/upper,workdir=${dir}/work`,
      );
    } catch (err) {
      throw errFailedPrecondition(`overlayfs not usable under ${root}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    try {
      if ((await readFile(path.join(merged, 'probe'), 'utf8')) !== 'lower')
        throw errFailedPrecondition(`overlayfs under ${root} does not show its lower layers`);
    } finally {
      umount2(merged, MNT.DETACH);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
