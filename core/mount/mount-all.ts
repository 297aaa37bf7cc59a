// Mounting a snapshotter's Mount[] at a target, for the daemon and for tests.
// The per-entry work (option parsing, bind remounts, propagation) is the
// shim's mountOne; this adds the long-lowerdir compaction, which needs the
// chdir around the mount call.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { mountOne, unmountAll as unmountStack } from './mount.js';
import { compactLowerdir } from './compaction.js';
import type { Mount } from '../snapshots/types.js';

/** Mounts one entry; the chdir is safe because mount is synchronous on the only JS thread. */
export function mountEntry(m: Mount, target: string): void {
  const abs = path.resolve(target);
  const { mount, chdir } = compactLowerdir(m);
  const spec = { type: mount.type, source: mount.source, options: mount.options };
  if (!chdir) {
    mountOne(spec, abs);
    return;
  }
  const cwd = process.cwd();
  process.chdir(chdir);
  try {
    mountOne(spec, abs);
  } finally {
    process.chdir(cwd);
  }
}

/** Mounts every entry in order at target (created if missing); all or nothing. */
export function mountAll(mounts: readonly Mount[], target: string): void {
  const abs = path.resolve(target);
  mkdirSync(abs, { recursive: true, mode: 0o711 });
  let mounted = 0;
  try {
    for (const m of mounts) {
      mountEntry(m, abs);
      mounted++;
    }
  } catch (err) {
    if (mounted > 0) unmountStack(abs);
    throw err;
  }
}

/** Lazily unmounts everything stacked on target; a target with no mounts is fine. */
export function unmountAll(target: string): void {
  unmountStack(path.resolve(target));
}
