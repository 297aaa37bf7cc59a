// Where the benchmarked programs are: the compiled tree next to this file
// (dist/bench/lib → repo root is three levels up) and Debian's containerd.

import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** berthd as tsc compiled it: one file per module. */
export const BERTHD_MODULES = path.join(REPO_ROOT, 'dist', 'cmd', 'berthd.js');
/** berthd bundled with a code cache by cmd/build.mjs. */
export const BERTHD_BUNDLE = path.join(REPO_ROOT, 'dist', 'berthd.cjs');
/** The berthd the task benchmarks run: the bundle when it is built. */
export const BERTHD = existsSync(BERTHD_BUNDLE) ? BERTHD_BUNDLE : BERTHD_MODULES;
export const BERTH_SHIM_BUNDLE = path.join(REPO_ROOT, 'dist', 'berth-shim.mjs');
/** The sh wrapper containerd finds on PATH for the runtime io.containerd.berth.v2. */
export const BERTH_SHIM_WRAPPER = path.join(REPO_ROOT, 'bin', 'containerd-shim-berth-v2');

export const CONTAINERD = '/usr/bin/containerd';
export const CTR = '/usr/bin/ctr';
export const RUNC_SHIM = '/usr/bin/containerd-shim-runc-v2';

export const haveContainerd = (): boolean => existsSync(CONTAINERD);

/** containerd 2.x as scripts/bench-tools.sh builds it (the cache's current link). */
const TOOLS_CACHE =
  process.env.BERTH_TOOLS_CACHE ?? path.join(os.homedir(), '.cache', 'berth', 'tools');
export const CONTAINERD2_DIR = path.join(TOOLS_CACHE, 'containerd2-current');
export const CONTAINERD2 = path.join(CONTAINERD2_DIR, 'containerd');
export const haveContainerd2 = (): boolean =>
  existsSync(CONTAINERD2) && existsSync(path.join(CONTAINERD2_DIR, 'containerd-shim-runc-v2'));
export const haveRuncShim = (): boolean => existsSync(RUNC_SHIM);

/** Fails early with the fix when the build output is missing. */
export function requireBuild(): void {
  for (const file of [BERTHD_MODULES, BERTH_SHIM_BUNDLE]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first`);
  }
}
