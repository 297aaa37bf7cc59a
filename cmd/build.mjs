// Bundles berthd and the berth CLI for fast start: `node cmd/build.mjs [outdir]`
// (default dist/). Most of berthd's cold start was Node resolving, reading and
// compiling hundreds of modules; one file with a V8 code cache skips that.
//
// For each program it writes, in outdir:
//   <name>.bundle.cjs        the program and its dependencies, one CommonJS file
//   <name>.bundle.cjs.cache  V8's code cache for it, made by running `<name> --version`
//   <name>.cjs               the executable entry: cmd/launch-cached.cjs runs the bundle
//   launch-cached.cjs        (shared)
// CommonJS, because Node 20 can use a code cache only for scripts (vm.Script),
// not for ES modules. The bundle runs in strict mode, as the ES modules it is
// made of do.
//
// The files must stay inside the package (dist/ is): paths are found from the
// bundle's own location (its import.meta.url, defined below as its file URL):
//  - api/version.ts and plugins/tasks/binary.ts walk up to package.json;
//  - native/binding.ts walks up to build/Release/berth_native.node;
//  - the tasks plugin finds the shim bundle at <package>/dist/berth-shim.mjs.
// classic-level stays external: it loads its prebuilt native binding relative
// to its own directory in node_modules. @grpc/proto-loader (and protobufjs
// under it) only serves grpc-js's channelz and ORCA services, which Berth never
// registers; left out, it is still resolved from node_modules if required.

import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.resolve(process.argv[2] ?? path.join(root, 'dist'));

const PROGRAMS = { berthd: 'cmd/berthd.ts', berth: 'cmd/berth.ts' };
const LAUNCHER = 'launch-cached.cjs';

mkdirSync(outdir, { recursive: true });
copyFileSync(path.join(root, 'cmd', LAUNCHER), path.join(outdir, LAUNCHER));

const kib = (file) => `${(statSync(file).size / 1024).toFixed(0)} KiB`;

for (const [name, entry] of Object.entries(PROGRAMS)) {
  const bundle = path.join(outdir, `${name}.bundle.cjs`);
  const result = await build({
    entryPoints: [path.join(root, entry)],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['classic-level', '@grpc/proto-loader'],
    define: { 'import.meta.url': '__berthModuleUrl' },
    banner: {
      js: [
        '"use strict";',
        "var __berthModuleUrl = require('node:url').pathToFileURL(__filename).href;",
      ].join('\n'),
    },
    // Whitespace and syntax only: identifiers keep their names for stack traces and error names.
    minifyWhitespace: true,
    minifySyntax: true,
    treeShaking: true,
    logLevel: 'warning',
  });
  if (result.errors.length > 0) process.exit(1);

  const launcher = path.join(outdir, `${name}.cjs`);
  writeFileSync(
    launcher,
    [
      '#!/usr/bin/env node',
      "'use strict';",
      `require('./${LAUNCHER}').run(require('node:path').join(__dirname, '${name}.bundle.cjs'));`,
      '',
    ].join('\n'),
  );
  chmodSync(launcher, 0o755);

  // One run fills the cache with what start-up compiles (every module's top level).
  execFileSync(process.execPath, [launcher, '--version'], {
    env: { ...process.env, BERTH_WRITE_CODE_CACHE: '1' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const rel = (f) => path.relative(process.cwd(), f);
  process.stdout.write(
    `${rel(launcher)} → ${rel(bundle)} ${kib(bundle)}, code cache ${kib(`${bundle}.cache`)}\n`,
  );
}
