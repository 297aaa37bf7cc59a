// Bundles the shim into one ESM file for fast start (the daemon runs it per
// container): `node shim/build.mjs [outfile]`, default dist/berth-shim.mjs.
// The native addon stays a separate file: native/binding.ts looks for
// build/Release/berth_native.node upwards from the bundle's directory, so the
// bundle must live inside the package (dist/ is).
//
// The generated protobuf modules also export gRPC clients (built with
// @grpc/grpc-js at import time) that the shim never uses over its ttrpc-only
// wire; the bundle gets a stand-in for those two names instead of the ~1 MB
// library, which also keeps start-up fast.

import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outfile = path.resolve(process.argv[2] ?? path.join(root, 'dist', 'berth-shim.mjs'));

const grpcStandIn = {
  name: 'grpc-stand-in',
  setup(b) {
    b.onResolve({ filter: /^@grpc\/grpc-js$/ }, () => ({
      path: 'grpc-js',
      namespace: 'grpc-stand-in',
    }));
    b.onLoad({ filter: /.*/, namespace: 'grpc-stand-in' }, () => ({
      contents: [
        'export class Client {}',
        'export function makeGenericClientConstructor() {',
        "  return class { constructor() { throw new Error('gRPC clients are not available in berth-shim'); } };",
        '}',
      ].join('\n'),
      loader: 'js',
    }));
  },
};

const result = await build({
  entryPoints: [path.join(root, 'cmd', 'berth-shim.ts')],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outfile,
  plugins: [grpcStandIn],
  treeShaking: true,
  metafile: true,
  logLevel: 'warning',
});
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
process.stdout.write(`${path.relative(process.cwd(), outfile)} ${(bytes / 1024).toFixed(0)} KiB\n`);
