// Walks two directory trees side by side and reports what a layer must carry
// to turn `lower` into `upper`: added and modified paths in full, deleted ones
// as whiteouts, plus the unchanged parent directories of anything reported so
// the layer is self-describing. Order is deterministic: within a directory,
// whiteouts first (image-spec asks for them before their siblings), then the
// remaining names sorted; a directory always precedes its contents.

import fs from 'node:fs';
import path from 'node:path';
import { lstatMeta, readXattrs, type FileMeta } from './entry-header.js';

export type Change =
  | { kind: 'whiteout'; name: string }
  | {
      kind: 'entry';
      name: string;
      path: string;
      meta: FileMeta;
      reason: 'added' | 'modified' | 'parent';
    };

interface PendingDir {
  name: string;
  path: string;
  meta: FileMeta;
  emitted: boolean;
}

/** Changes from lower to upper; lower null means every path in upper is added. */
export function* changes(lower: string | null, upper: string): Generator<Change> {
  yield* walk(lower, upper, '', []);
}

const sorted = (names: string[]) => names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

function* walk(
  lower: string | null,
  upper: string,
  rel: string,
  ancestors: PendingDir[],
): Generator<Change> {
  const upperDir = path.join(upper, rel);
  const upperNames = sorted(fs.readdirSync(upperDir));
  const lowerDir = lower === null ? null : path.join(lower, rel);
  const lowerIsDir = lowerDir !== null && lstatMeta(lowerDir)?.type === 'dir';
  const lowerNames = lowerIsDir ? new Set(fs.readdirSync(lowerDir!)) : new Set<string>();

  const flushAncestors = function* (): Generator<Change> {
    for (const a of ancestors) {
      if (a.emitted) continue;
      a.emitted = true;
      yield { kind: 'entry', name: a.name, path: a.path, meta: a.meta, reason: 'parent' };
    }
  };

  const present = new Set(upperNames);
  for (const name of sorted([...lowerNames].filter((n) => !present.has(n)))) {
    yield* flushAncestors();
    yield { kind: 'whiteout', name: join(rel, name) };
  }

  for (const name of upperNames) {
    const childRel = join(rel, name);
    const up = path.join(upperDir, name);
    const meta = lstatMeta(up);
    if (!meta?.type) continue; // vanished, or a socket
    const lp = lowerNames.has(name) ? path.join(lowerDir!, name) : null;
    const lmeta = lp ? lstatMeta(lp) : null;
    const reason = !lmeta ? 'added' : differs(lp!, lmeta, up, meta) ? 'modified' : null;
    if (reason) {
      yield* flushAncestors();
      yield { kind: 'entry', name: childRel, path: up, meta, reason };
    }
    if (meta.type === 'dir') {
      const self: PendingDir = { name: childRel, path: up, meta, emitted: reason !== null };
      const nextLower = lmeta?.type === 'dir' ? lower : null;
      yield* walk(nextLower, upper, childRel, [...ancestors, self]);
    }
  }
}

function join(rel: string, name: string): string {
  return rel === '' ? name : `${rel}/${name}`;
}

function differs(lp: string, l: FileMeta, up: string, u: FileMeta): boolean {
  if (l.type !== u.type || l.mode !== u.mode || l.uid !== u.uid || l.gid !== u.gid) return true;
  if (l.mtimeNs !== u.mtimeNs) return true;
  switch (u.type) {
    case 'symlink':
      if (fs.readlinkSync(lp) !== fs.readlinkSync(up)) return true;
      break;
    case 'char':
    case 'block':
      if (l.rdev !== u.rdev) return true;
      break;
    case 'file':
      if (l.size !== u.size) return true;
      // A copy that kept a whole-second mtime (tar, cp -p on some filesystems)
      // may differ with identical metadata: only then compare the bytes.
      if (l.inode !== u.inode && u.mtimeNs % 1_000_000_000n === 0n && !sameContent(lp, up))
        return true;
      break;
  }
  return !sameXattrs(readXattrs(lp), readXattrs(up));
}

function sameXattrs(a: Map<string, Buffer>, b: Map<string, Buffer>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (!b.get(k)?.equals(v)) return false;
  return true;
}

function sameContent(a: string, b: string): boolean {
  const fa = fs.openSync(a, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  const fb = fs.openSync(b, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const ba = Buffer.allocUnsafe(1 << 16);
    const bb = Buffer.allocUnsafe(1 << 16);
    for (;;) {
      const na = fs.readSync(fa, ba, 0, ba.length, null);
      const nb = fs.readSync(fb, bb, 0, bb.length, null);
      if (na !== nb) return false;
      if (na === 0) return true;
      if (!ba.subarray(0, na).equals(bb.subarray(0, nb))) return false;
    }
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
}
