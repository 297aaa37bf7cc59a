'use strict';
// Runs a CommonJS bundle compiled with a V8 code cache, so a cold start skips
// parsing the whole bundle (most of the compile time of a 1 MiB file).
// cmd/build.mjs writes the cache next to the bundle (<bundle>.cache) by running
// it once with BERTH_WRITE_CODE_CACHE set. A cache made by another Node or V8
// version, or with other V8 flags, is rejected by V8 and the bundle compiles as
// usual; a missing cache file is the same.
//
// Plain CommonJS on purpose: the launcher itself must cost nothing to load.

const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');

/** Runs `bundle` (an absolute path) as the main program. */
exports.run = function run(bundle) {
  const cacheFile = `${bundle}.cache`;
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    // No cache: compile from source.
  }
  // The bundle's first line may be a hashbang, which the CommonJS wrapper cannot hold.
  const source = fs.readFileSync(bundle, 'utf8').replace(/^#!.*/, '');
  const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData });

  if (process.env.BERTH_WRITE_CODE_CACHE) {
    // Written at exit, so the functions the run compiled are in it too.
    process.on('exit', () => fs.writeFileSync(cacheFile, script.createCachedData()));
  }

  const mod = new Module(bundle, null);
  mod.filename = bundle;
  mod.paths = Module._nodeModulePaths(path.dirname(bundle));
  const wrapper = script.runInThisContext();
  wrapper.call(
    mod.exports,
    mod.exports,
    Module.createRequire(bundle),
    mod,
    bundle,
    path.dirname(bundle),
  );
};
