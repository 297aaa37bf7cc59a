// A CRI env per describe block, for tests that stop and restart berthd. Apart
// from helpers/cri.ts, which the benchmarks import too: this one needs vitest.

import { afterAll, beforeAll } from 'vitest';
import { type CriEnv, startCriEnv } from './cri.js';

/**
 * A CRI env for one describe block whose tests stop and restart berthd: made
 * before its tests, and disposed after them through a running berthd (one a
 * failed test left down is started again first, so pods go through the CRI).
 */
export function criEnvAcrossRestarts(): () => CriEnv {
  let env: CriEnv | undefined;
  beforeAll(async () => {
    env = await startCriEnv();
  });
  afterAll(async () => {
    const p = env?.d.proc;
    if (p && (p.exitCode !== null || p.signalCode !== null)) await env!.d.restart().catch(() => {});
    await env?.dispose();
  });
  return () => env!;
}
