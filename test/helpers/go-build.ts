// Builds a Go test program from test/go/<name> with `go build` (modules from
// the Go module proxy) into ${BERTH_TOOLS_CACHE:-$HOME/.cache/berth/tools}/go-build/,
// keyed by a hash of its sources, so each version is built once. Go is used for
// test tools only. In CI (CI=true) Go must be installed; elsewhere a test may
// skip, saying why, only when it is not.

import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './daemon.js';

function goAvailable(): boolean {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function sourceHash(dir: string): Promise<string> {
  const h = createHash('sha256');
  for (const f of (await readdir(dir)).sort()) {
    h.update(f)
      .update('\0')
      .update(await readFile(path.join(dir, f)));
  }
  return h.digest('hex').slice(0, 16);
}

/**
 * The built binary's path, or why it cannot be built here (Go absent outside
 * CI). A first build downloads modules: call it from a hook with a long timeout.
 */
export async function goBuild(name: string): Promise<string | { missing: string }> {
  const src = path.join(repoRoot, 'test/go', name);
  const cache = process.env.BERTH_TOOLS_CACHE || path.join(os.homedir(), '.cache/berth/tools');
  const dir = path.join(cache, 'go-build', `${name}-${await sourceHash(src)}`);
  const bin = path.join(dir, name);
  if (existsSync(bin)) return bin;
  if (!goAvailable()) {
    if (process.env.CI === 'true') throw new Error(`go is required to build test/go/${name}`);
    return { missing: `Go is not installed, so test/go/${name} cannot be built` };
  }
  await mkdir(path.dirname(dir), { recursive: true });
  const tmp = await mkdtemp(`${dir}.build-`);
  try {
    await promisify(execFile)(
      'go',
      ['build', '-buildvcs=false', '-mod=readonly', '-o', path.join(tmp, name), '.'],
      {
        cwd: src,
        maxBuffer: 16 << 20,
      },
    );
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    const e = err as { stderr?: string; message: string };
    throw new Error(`go build test/go/${name} failed: ${e.stderr || e.message}`);
  }
  // Another run may have finished the same build first; either copy will do.
  await rename(tmp, dir).catch(() => rm(tmp, { recursive: true, force: true }));
  return bin;
}
