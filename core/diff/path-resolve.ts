// Resolving layer entry names inside the target root. This is what keeps a
// hostile layer from writing outside it: names are cleaned so `..` stops at the
// root and absolute names are relative to it, and every existing component is
// inspected with lstat; a symlink met on the way is followed as if the root
// were `/` (an absolute target restarts at the root, `..` never climbs above
// it). The result is a path whose every existing component is a real directory
// inside the root, so later path-based syscalls cannot be redirected by a
// symlink the layer planted. The last component is never followed: entries
// replace what is there, they do not write through it.
//
// This assumes nothing else modifies the tree while a layer is applied (the
// snapshot being prepared is private to the applier), which is what makes
// check-then-use on paths sound here.

import fs from 'node:fs';
import path from 'node:path';
import { errInvalidArgument } from '../errors/catalogue.js';

/** Same bound as Linux's MAXSYMLINKS-style loop protection, generous for deep chains. */
const MAX_SYMLINKS = 255;

/**
 * Splits a tar name into components with `.` and empty parts removed and `..`
 * clamped at the root, as if the name were joined to `/` and cleaned.
 */
export function cleanComponents(name: string): string[] {
  if (name.includes('\0'))
    throw errInvalidArgument(`entry name ${JSON.stringify(name)} contains a NUL byte`);
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out;
}

/**
 * Absolute path of `components` inside `root`, with every symlink among the
 * components followed within the root (the last one only if `followLast`).
 * Components that do not exist yet are kept as named.
 */
export function resolveInRoot(
  root: string,
  components: readonly string[],
  followLast = false,
): string {
  const resolved: string[] = [];
  const pending = [...components];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const isLast = pending.length === 0;
    const candidate = path.join(root, ...resolved, part);
    const st = fs.lstatSync(candidate, { throwIfNoEntry: false });
    if (!st || st.isDirectory() || (isLast && !followLast)) {
      resolved.push(part);
      continue;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) {
        throw errInvalidArgument(
          `resolving ${JSON.stringify(components.join('/'))}: too many levels of symbolic links`,
        );
      }
      const target = fs.readlinkSync(candidate);
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/'));
      continue;
    }
    if (!isLast) {
      throw errInvalidArgument(
        `resolving ${JSON.stringify(components.join('/'))}: ${JSON.stringify([...resolved, part].join('/'))} is not a directory`,
      );
    }
    resolved.push(part);
  }
  return resolved.length ? path.join(root, ...resolved) : root;
}

/**
 * Parent-directory resolution with a cache: a layer puts many entries in the
 * same directories. Anything that can change how a path resolves (a symlink
 * created, a path removed or replaced) must call invalidate().
 */
export class RootResolver {
  private readonly cache = new Map<string, string>();

  constructor(readonly root: string) {}

  /** Resolved absolute path of the directory holding `components` (all but the last). */
  parentOf(components: readonly string[]): string {
    const key = components.slice(0, -1).join('/');
    let dir = this.cache.get(key);
    if (dir === undefined) {
      dir = resolveInRoot(this.root, components.slice(0, -1), true);
      this.cache.set(key, dir);
    }
    return dir;
  }

  /** Resolved path of an entry: its parent resolved, its own last component not followed. */
  entryPath(components: readonly string[]): string {
    if (components.length === 0) return this.root;
    return path.join(this.parentOf(components), components[components.length - 1]!);
  }

  invalidate(): void {
    this.cache.clear();
  }
}
