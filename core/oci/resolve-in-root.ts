import { lstat, readlink } from 'node:fs/promises';
import { posix as path } from 'node:path';
import { errInvalidArgument } from '../errors/catalogue.js';

// Linux's own limit on symlinks followed in one lookup (MAXSYMLINKS is 40); an
// image can hold a loop, so we must stop somewhere.
const MAX_SYMLINKS = 40;

function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * Resolve `unsafePath` as if `root` were "/": walk it one component at a time,
 * following symlinks with absolute targets taken relative to `root` and ".."
 * never climbing above `root`. The result is a host path inside `root` (the
 * trailing part may not exist). Use it to read files out of an untrusted image
 * rootfs, where /etc/passwd may be a link to ../../../etc/shadow.
 */
export async function resolveInRoot(root: string, unsafePath: string): Promise<string> {
  const base = path.resolve(root);
  const pending = components(unsafePath);
  const resolved: string[] = [];
  let followed = 0;

  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = path.join(base, ...resolved, part);
    let isLink: boolean;
    try {
      isLink = (await lstat(candidate)).isSymbolicLink();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A missing component is kept lexically; every later one is still checked,
      // since "missing/../link" reaches a real entry again.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      resolved.push(part);
      continue;
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++followed > MAX_SYMLINKS) {
      throw errInvalidArgument(
        `too many symlinks resolving ${JSON.stringify(unsafePath)} in ${base}`,
      );
    }
    const target = await readlink(candidate);
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...components(target));
  }
  return path.join(base, ...resolved);
}
