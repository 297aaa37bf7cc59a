#!/usr/bin/env node
// The layering check run by `npm run lint`: every relative import between the
// project's top-level folders must point down the layers, and no file may take
// part in an import cycle. Prints each violation with the import that causes
// it and exits 1 when there is any.
//
//   api/        wire definitions and generated code only
//   native/     the addon and its wrapper (it throws the catalogue's errors)
//   core/       domain libraries: api/, native/ and core/ only
//   snapshots/  snapshotter implementations: core/ and below
//   shim/       the berth-shim program: core/ and below, never the daemon
//   client/     the Node client library: core/ and below
//   plugins/    the daemon: registrations, services, adapters; never shim/ or client/
//   cmd/        entry points: anything but tests
//   bench/, test/  anything

import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** What each layer may import, besides itself: a layer, or one folder of one. */
const ALLOWED = {
  api: [],
  native: ['api', 'core/errors'],
  core: ['api', 'native'],
  snapshots: ['api', 'native', 'core'],
  shim: ['api', 'native', 'core'],
  client: ['api', 'native', 'core'],
  plugins: ['api', 'native', 'core', 'snapshots'],
  cmd: ['api', 'native', 'core', 'snapshots', 'shim', 'client', 'plugins'],
  bench: ['*'],
  test: ['*'],
};

const SOURCE = /\.(?:ts|mts|mjs|js|cjs)$/;
const SKIP_DIRS = new Set(['node_modules', 'dist', 'build', '.git', 'gen']);

function sourceFiles(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP_DIRS.has(e.name)) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (SOURCE.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

// Static imports and re-exports (also `import type`), side-effect imports,
// dynamic import() and require() of relative paths.
const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'"`;]*?\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]|(?:^|[\s;])import\s*['"](\.{1,2}\/[^'"]+)['"]|\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|\brequire\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/gm;

/** The file a relative specifier names (`./x.js` is `./x.ts` in the source tree). */
function resolve(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  const candidates = [
    base,
    base.replace(/\.js$/, '.ts'),
    base.replace(/\.mjs$/, '.mts'),
    `${base}.ts`,
    path.join(base, 'index.ts'),
  ];
  for (const c of candidates) {
    try {
      if (statSync(c).isFile()) return c;
    } catch {
      /* next */
    }
  }
  return undefined;
}

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

const layerOf = (file) => path.relative(ROOT, file).split(path.sep)[0];
const folderOf = (file) => path.relative(ROOT, file).split(path.sep).slice(0, 2).join('/');
/** Unit tests sit beside the code they test but may use fixtures and services from anywhere. */
const isTest = (file) => /\.test\.ts$/.test(file);

function main() {
  const layers = Object.keys(ALLOWED).filter((l) => {
    try {
      return statSync(path.join(ROOT, l)).isDirectory();
    } catch {
      return false;
    }
  });
  const files = layers.flatMap((l) => sourceFiles(path.join(ROOT, l)));
  const graph = new Map();
  const problems = [];
  for (const file of files) {
    const text = stripComments(readFileSync(file, 'utf8'));
    const edges = [];
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? m[4];
      const target = resolve(file, spec);
      if (!target || !target.startsWith(ROOT + path.sep)) continue;
      edges.push(target);
      const from = layerOf(file);
      const to = layerOf(target);
      const allowed = ALLOWED[from];
      if (from === to || !allowed || allowed.includes('*') || isTest(file)) continue;
      if (allowed.includes(to) || allowed.includes(folderOf(target))) continue;
      if (to === 'test' || to === 'bench' || !ALLOWED[to]) {
        if (from !== 'test' && from !== 'bench') {
          problems.push(
            `${path.relative(ROOT, file)}: imports ${spec} (${to}/ is not part of the product)`,
          );
        }
        continue;
      }
      problems.push(
        `${path.relative(ROOT, file)}: imports ${spec}, but ${from}/ may not import ${to}/`,
      );
    }
    graph.set(file, edges);
  }
  for (const cycle of cycles(graph)) {
    problems.push(
      `import cycle: ${[...cycle, cycle[0]].map((f) => path.relative(ROOT, f)).join(' -> ')}`,
    );
  }
  if (problems.length > 0) {
    process.stderr.write(
      `layering check: ${problems.length} problem(s)\n${problems.map((p) => `  ${p}`).join('\n')}\n`,
    );
    process.exit(1);
  }
  process.stdout.write(
    `layering check: ${files.length} files, imports point down the layers, no cycles\n`,
  );
}

/** Strongly connected components with more than one file (Tarjan), each as a cycle path. */
function cycles(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const out = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), idx.get(w)));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.reverse());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

main();
