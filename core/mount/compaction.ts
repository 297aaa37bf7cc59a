// The kernel copies at most one page of mount data. A deep overlay chain's
// lowerdir list overflows that, so (as containerd does) the mount is made from
// the lowerdirs' common directory with relative lowerdirs. This module only
// computes that form; mount.ts performs the chdir and the mount.

import type { Mount } from './types.js';

export const PAGE_SIZE = 4096;
/** containerd compacts at page size minus this margin. */
const MARGIN = 512;

export interface CompactedMount {
  mount: Mount;
  /** Directory to chdir to before mounting; undefined when nothing changed. */
  chdir?: string;
}

/** Byte length of the options as the kernel receives them (comma-joined). */
export function optionsSize(options: readonly string[]): number {
  return Buffer.byteLength(options.join(','));
}

/** Longest directory (no trailing '/') every path lies under; '' if only '/'. */
export function commonDirectory(paths: readonly string[]): string {
  let prefix = paths[0] ?? '';
  for (const p of paths.slice(1)) {
    let i = 0;
    while (i < prefix.length && i < p.length && prefix[i] === p[i]) i++;
    prefix = prefix.slice(0, i);
  }
  // Cut back to a whole path component: "/x/snapshots/1" from ".../12/fs" and
  // ".../13/fs" must become "/x/snapshots", never "/x/snapshots/1".
  const everyContinuesWithSlash = paths.every(
    (p) => p.length > prefix.length && p[prefix.length] === '/',
  );
  if (!everyContinuesWithSlash || prefix.endsWith('/')) {
    prefix = prefix.slice(0, prefix.lastIndexOf('/'));
  }
  return prefix;
}

/**
 * The mount to make, and the directory to make it from, for an overlay whose
 * options reach page size minus 512 bytes. Anything else is returned as is.
 */
export function compactLowerdir(m: Mount, pageSize = PAGE_SIZE): CompactedMount {
  if (m.type !== 'overlay' || optionsSize(m.options) < pageSize - MARGIN) return { mount: m };
  const idx = m.options.findIndex((o) => o.startsWith('lowerdir='));
  if (idx < 0) return { mount: m };
  const dirs = m.options[idx]!.slice('lowerdir='.length).split(':');
  if (dirs.length <= 1 || !dirs.every((d) => d.startsWith('/'))) return { mount: m };
  const common = commonDirectory(dirs);
  if (common === '' || common === '/') return { mount: m };
  const relative = dirs.map((d) => d.slice(common.length + 1));
  // lowerdir last, as containerd orders the compacted options.
  const options = [
    ...m.options.slice(0, idx),
    ...m.options.slice(idx + 1),
    `lowerdir=${relative.join(':')}`,
  ];
  return { mount: { ...m, options }, chdir: common };
}
