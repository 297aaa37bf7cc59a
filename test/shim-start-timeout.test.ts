// A shim `start` that hangs is killed when its time runs out, and so is
// everything it started: a hung start is typically waiting on a child of its
// own (a runtime, a helper), which must not be left to init.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ShimInvocation, runShimStart } from '../core/runtime/shim-process.js';
import { alive, waitFor } from './helpers/tasks.js';

describe('a shim start that times out', () => {
  let tmp: string;
  const started: number[] = [];

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-shim-timeout-'));
  });
  afterAll(() => {
    for (const pid of started) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone, as it should be */
      }
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('is killed with its whole process group', async () => {
    const pidFile = path.join(tmp, 'grandchild.pid');
    // A start that launches a child of its own, records its pid, then waits forever.
    const script = `sleep 300 & echo $! > ${pidFile}; wait`;
    const inv: ShimInvocation = {
      command: { path: '/bin/sh', command: '/bin/sh', args: ['-c', script, 'hung-shim'] },
      namespace: 'timeout',
      id: 'hung',
      bundlePath: tmp,
      address: path.join(tmp, 'none.sock'),
      ttrpcAddress: path.join(tmp, 'none.sock.ttrpc'),
      publishBinary: '/bin/false',
    };
    const start = runShimStart(inv, { timeoutMs: 1_000 });
    const grandchild = await waitFor(
      async () => (fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : undefined),
      10_000,
      'the hung start to launch its child',
    );
    started.push(grandchild);
    await expect(start).rejects.toThrow(/did not finish within 1000 ms/);
    await waitFor(async () => !alive(grandchild), 10_000, 'the child of the hung start to die');
  });
});
