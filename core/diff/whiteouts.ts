// OCI whiteout markers (image-spec layer.md) and their two renderings: removing
// lower content from a plain directory tree, or the overlayfs encoding (0/0
// character device, trusted.overlay.opaque=y) when applying straight into an
// overlay upperdir.

import fs from 'node:fs';
import path from 'node:path';
import { errInvalidArgument } from '../errors/catalogue.js';
import { S_IF, lsetxattr, mknod } from '../../native/index.js';

export const WHITEOUT_PREFIX = '.wh.';
/** Prefix of AUFS metadata names; never extracted. */
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

export type Marker = { kind: 'opaque' } | { kind: 'whiteout'; target: string } | { kind: 'meta' };

/** What a base name means when it is a whiteout marker; null for ordinary names. */
export function classifyMarker(base: string): Marker | null {
  if (!base.startsWith(WHITEOUT_PREFIX)) return null;
  if (base === OPAQUE_MARKER) return { kind: 'opaque' };
  if (base.startsWith(WHITEOUT_META_PREFIX)) return { kind: 'meta' };
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..') {
    throw errInvalidArgument(`whiteout ${JSON.stringify(base)} names no file`);
  }
  return { kind: 'whiteout', target };
}

/** Overlayfs whiteout: a 0/0 character device owned as the marker says. */
export function makeOverlayWhiteout(p: string, uid: number, gid: number): void {
  mknod(p, S_IF.CHR, 0);
  fs.lchownSync(p, uid, gid);
}

export function markOverlayOpaque(dir: string): void {
  lsetxattr(dir, OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
}

export function isOverlayWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/**
 * Removes everything under `dir` that the current layer did not create: the
 * non-overlay meaning of an opaque marker. Directories the layer re-declared
 * are kept but their lower contents are pruned too, since opacity hides all
 * lower descendants, not just direct children.
 */
export function pruneLowerContent(dir: string, fromThisLayer: ReadonlySet<string>): void {
  for (const name of fs.readdirSync(dir)) {
    const child = path.join(dir, name);
    if (!fromThisLayer.has(child)) {
      fs.rmSync(child, { recursive: true, force: true });
      continue;
    }
    const st = fs.lstatSync(child);
    if (st.isDirectory()) pruneLowerContent(child, fromThisLayer);
  }
}
