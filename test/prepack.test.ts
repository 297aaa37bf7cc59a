// packaging/prepack.mjs decides whether `npm pack` must build dist/ first.
// Exercised with --check on a made-up package root, so nothing is built.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/daemon.js';

const SCRIPT = path.join(repoRoot, 'packaging', 'prepack.mjs');
const OUTPUTS = [
  'dist/berthd.cjs',
  'dist/berthd.bundle.cjs',
  'dist/berth.cjs',
  'dist/berth.bundle.cjs',
  'dist/launch-cached.cjs',
  'dist/berth-shim.mjs',
  'dist/cmd/berth-shim.js',
];

function check(root: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, '--check', root], (err, stdout) =>
      resolve({ code: err ? Number(err.code) : 0, out: stdout.trim() }),
    );
  });
}

describe('prepack --check', () => {
  let root: string;
  const write = (rel: string, secondsAgo: number) => {
    const file = path.join(root, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, '');
    const t = Date.now() / 1000 - secondsAgo;
    utimesSync(file, t, t);
  };

  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'berth-prepack-'));
    write('tsconfig.json', 300);
    write('plugins/tasks/manager.ts', 300);
    write('cmd/berthd.ts', 300);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('is up to date when every output is newer than every source', async () => {
    for (const out of OUTPUTS) write(out, 100);
    expect(await check(root)).toEqual({ code: 0, out: 'up to date' });
  });

  it('builds when an output is missing', async () => {
    for (const out of OUTPUTS.slice(1)) write(out, 100);
    expect(await check(root)).toEqual({ code: 1, out: 'stale: dist/berthd.cjs is missing' });
  });

  it('builds when a source is newer than the oldest output', async () => {
    for (const out of OUTPUTS) write(out, 100);
    write('dist/berth-shim.mjs', 200);
    write('shim/server.ts', 150);
    expect(await check(root)).toEqual({
      code: 1,
      out: 'stale: shim/server.ts is newer than dist/berth-shim.mjs',
    });
  });

  it('ignores tests, which the package does not ship', async () => {
    for (const out of OUTPUTS) write(out, 100);
    write('plugins/tasks/manager.test.ts', 10);
    expect(await check(root)).toEqual({ code: 0, out: 'up to date' });
  });
});
