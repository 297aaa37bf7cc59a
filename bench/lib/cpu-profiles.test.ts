import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readProfiles } from './cpu-profiles.js';

const frame = (functionName: string, url = '', lineNumber = 0) => ({
  functionName,
  url,
  lineNumber,
  columnNumber: 0,
});

/** Samples on `ids`, each `deltaUs` after the previous; the profile ends `deltaUs` after the last. */
function profile(script: string, ids: number[], deltaUs: number) {
  return {
    nodes: [
      { id: 1, callFrame: frame('(root)') },
      { id: 2, callFrame: frame('(idle)') },
      { id: 3, callFrame: frame('serve', `file:///x/dist/${script}`, 9) },
      { id: 4, callFrame: frame('(garbage collector)') },
    ],
    startTime: 1000,
    endTime: 1000 + deltaUs * (ids.length + 1),
    samples: ids,
    timeDeltas: ids.map(() => deltaUs),
  };
}

describe('readProfiles', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('sums self time per function and per process kind, leaving idle out', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cpuprof-test-'));
    await writeFile(
      path.join(dir, 'CPU.1.cpuprofile'),
      JSON.stringify(profile('berthd.bundle.cjs', [3, 3, 2, 4], 1000)),
    );
    await writeFile(
      path.join(dir, 'CPU.2.cpuprofile'),
      JSON.stringify(profile('berth-shim.mjs', [3, 2], 500)),
    );
    await writeFile(
      path.join(dir, 'CPU.3.cpuprofile'),
      JSON.stringify(profile('berth-shim.mjs', [4], 2000)),
    );
    await writeFile(path.join(dir, 'CPU.4.cpuprofile'), '{"nodes": ['); // cut short
    const kinds = await readProfiles(dir);
    expect([...kinds.keys()].sort()).toEqual(['daemon', 'shim']);
    const daemon = kinds.get('daemon')!;
    expect(daemon.processes).toBe(1);
    expect(daemon.busyMs).toBe(3);
    expect(daemon.self).toEqual(
      new Map([
        ['serve berthd.bundle.cjs:10', 2],
        ['(garbage collector)', 1],
      ]),
    );
    const shim = kinds.get('shim')!;
    expect(shim.processes).toBe(2);
    expect(shim.self.get('serve berth-shim.mjs:10')).toBe(0.5);
    expect(shim.self.get('(garbage collector)')).toBe(2);
  });
});
