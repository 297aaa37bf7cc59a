// Runtime name → shim command, by containerd's rule: `io.containerd.runc.v2` runs
// `containerd-shim-runc-v2` (the last two dot-separated parts), an absolute path
// runs as is. Lookup order: $PATH, then the directory berthd runs from, then (for
// Berth's own runtime) the shim bundle inside this package.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errInvalidArgument, errNotFound } from '../errors/catalogue.js';

export const RUNC_RUNTIME = 'io.containerd.runc.v2';
export const BERTH_RUNTIME = 'io.containerd.berth.v2';
/** Short names accepted in place of full runtime names. */
const ALIASES: Record<string, string> = { berth: BERTH_RUNTIME, runc: RUNC_RUNTIME };

/** How to run a shim: `command ...args <shim flags>`. */
export interface ShimCommand {
  /** What the daemon records in `shim-binary-path` and resolves again after a restart. */
  path: string;
  command: string;
  args: string[];
}

export interface ResolveOptions {
  /** Defaults to process.env.PATH. */
  pathEnv?: string;
  /** Directories searched after $PATH; defaults to the running daemon's script directory. */
  extraDirs?: string[];
  /** Package root holding dist/cmd/berth-shim.js; found from this module by default. */
  packageRoot?: string;
}

export function canonicalRuntime(runtime: string): string {
  return ALIASES[runtime] ?? runtime;
}

/** `io.containerd.runc.v2` → `containerd-shim-runc-v2`. */
export function shimBinaryName(runtime: string): string {
  const parts = canonicalRuntime(runtime).split('.');
  if (parts.length < 2 || parts.some((p) => p === '' || p.includes('/'))) {
    throw errInvalidArgument(
      `invalid runtime name ${JSON.stringify(runtime)}: use a name like ${RUNC_RUNTIME} or an absolute path to the shim`,
    );
  }
  return `containerd-shim-${parts[parts.length - 2]}-${parts[parts.length - 1]}`;
}

function isExecutableFile(p: string): boolean {
  try {
    if (!fs.statSync(p).isFile()) return false;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Scripts (a shim built as JavaScript) run with this Node binary. */
export function commandFor(p: string): ShimCommand {
  return /\.(c|m)?js$/.test(p)
    ? { path: p, command: process.execPath, args: [p] }
    : { path: p, command: p, args: [] };
}

let cachedPackageRoot: string | undefined;

/** The nearest directory above this module holding package.json (the repo, or the installed package). */
export function packageRoot(): string {
  if (cachedPackageRoot) return cachedPackageRoot;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return (cachedPackageRoot = dir);
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package root not found above the tasks plugin');
    dir = up;
  }
}

export function resolveShim(runtime: string, opts: ResolveOptions = {}): ShimCommand {
  if (path.isAbsolute(runtime)) {
    if (!fs.existsSync(runtime)) throw errNotFound(`runtime binary ${runtime}`);
    return commandFor(runtime);
  }
  const name = shimBinaryName(runtime);
  const dirs = (opts.pathEnv ?? process.env.PATH ?? '').split(':').filter(Boolean);
  const daemonDir = process.argv[1] ? path.dirname(path.resolve(process.argv[1])) : undefined;
  dirs.push(...(opts.extraDirs ?? (daemonDir ? [daemonDir] : [])));
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (isExecutableFile(candidate)) return commandFor(candidate);
  }
  if (canonicalRuntime(runtime) === BERTH_RUNTIME) {
    // The single-file bundle starts fastest; the plain build is the fallback.
    const root = opts.packageRoot ?? packageRoot();
    for (const script of [
      path.join(root, 'dist', 'berth-shim.mjs'),
      path.join(root, 'dist', 'cmd', 'berth-shim.js'),
    ]) {
      if (fs.existsSync(script)) return commandFor(script);
    }
  }
  throw errNotFound(`runtime ${JSON.stringify(runtime)}: shim binary ${name} not installed`);
}

/** Berth's own shim (bundle, build output or the installed wrapper): it can start inline. */
export function isBerthShim(cmd: ShimCommand): boolean {
  return /(?:^|\/)(?:berth-shim\.(?:mjs|js)|containerd-shim-berth-v2)$/.test(cmd.path);
}
