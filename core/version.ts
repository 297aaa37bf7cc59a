import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Finds the package root from this module, whether run from sources or dist/. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, 'utf8')).name === 'berth') return dir;
      } catch {
        /* keep looking */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot locate the berth package root');
    dir = up;
  }
}

function readVersion(): { version: string; revision: string } {
  const root = packageRoot();
  const version = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version;
  let revision = 'unknown';
  try {
    // A checkout records the commit in .git/HEAD (or a ref it points at).
    const head = readFileSync(path.join(root, '.git', 'HEAD'), 'utf8').trim();
    revision = head.startsWith('ref: ')
      ? readFileSync(path.join(root, '.git', head.slice(5)), 'utf8').trim()
      : head;
  } catch {
    /* not a checkout */
  }
  return { version: `v${version}`, revision };
}

export const { version: VERSION, revision: REVISION } = readVersion();
