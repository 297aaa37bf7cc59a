// npm runs this before `npm pack` and `npm publish`. The package ships dist/
// (the machine installing it has no TypeScript or esbuild), so dist/ must exist
// and be newer than every source it is built from; otherwise this runs
// `npm run build`. CI packs right after building, so there it only compares
// modification times. `node packaging/prepack.mjs --check [ROOT]` reports
// instead of building: it exits 1 naming what is stale.

import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the bins run and the daemon's shim lookup finds (see package.json "bin"). */
const OUTPUTS = [
  'dist/berthd.cjs',
  'dist/berthd.bundle.cjs',
  'dist/berth.cjs',
  'dist/berth.bundle.cjs',
  'dist/launch-cached.cjs',
  'dist/berth-shim.mjs',
  'dist/cmd/berth-shim.js',
];
const SOURCE_DIRS = ['api', 'plugins', 'cmd', 'shim', 'snapshots', 'native'];
const SOURCE_FILES = ['tsconfig.json'];
const SOURCE = /\.(?:ts|mjs|cjs|js)$/;
// Tests are compiled too, but into dist/test and beside their code, none of which ships.
const TEST = /\.test\.ts$/;

function mtime(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

function* sources(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules') yield* sources(p);
    } else if (SOURCE.test(e.name) && !TEST.test(e.name)) {
      yield p;
    }
  }
}

/** Why dist/ under `root` must be rebuilt, or undefined when it is up to date. */
function staleReason(root) {
  let oldest;
  for (const out of OUTPUTS) {
    const t = mtime(path.join(root, out));
    if (t === undefined) return `${out} is missing`;
    if (!oldest || t < oldest.t) oldest = { out, t };
  }
  const files = [
    ...SOURCE_FILES.map((f) => path.join(root, f)),
    ...SOURCE_DIRS.flatMap((d) => [...sources(path.join(root, d))]),
  ];
  for (const f of files) {
    const t = mtime(f);
    if (t !== undefined && t > oldest.t) {
      return `${path.relative(root, f)} is newer than ${oldest.out}`;
    }
  }
  return undefined;
}

const args = process.argv.slice(2);
const check = args[0] === '--check';
const root = path.resolve(
  (check && args[1]) || path.join(path.dirname(fileURLToPath(import.meta.url)), '..'),
);
const reason = staleReason(root);
if (check) {
  process.stdout.write(reason ? `stale: ${reason}\n` : 'up to date\n');
  process.exit(reason ? 1 : 0);
}
if (reason) {
  process.stderr.write(`prepack: ${reason}; building\n`);
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
}
