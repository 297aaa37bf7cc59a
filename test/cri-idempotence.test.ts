// Stopping and removing what does not exist (any more) succeeds, as the kubelet
// and critest's Idempotence specs expect of every CRI runtime.

import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CriEnv, startCriEnv } from './helpers/cri.js';

const isRoot = process.getuid?.() === 0;
const haveCni = existsSync('/usr/lib/cni/bridge');

describe.skipIf(!isRoot || !haveCni)('CRI idempotence for unknown ids', () => {
  let env: CriEnv;
  beforeAll(async () => {
    env = await startCriEnv({ importImages: false });
  });
  afterAll(async () => {
    await env?.dispose();
  });

  it('stops and removes unknown containers and pods without an error', async () => {
    const rt = env.cri.runtime;
    await expect(rt.stopContainer({ containerId: randomUUID(), timeout: 1 })).resolves.toEqual({});
    await expect(rt.removeContainer({ containerId: randomUUID() })).resolves.toEqual({});
    await expect(rt.stopPodSandbox({ podSandboxId: randomUUID() })).resolves.toEqual({});
    await expect(rt.removePodSandbox({ podSandboxId: randomUUID() })).resolves.toEqual({});
    // Status still tells an unknown container apart.
    await expect(rt.containerStatus({ containerId: randomUUID() })).rejects.toMatchObject({
      code: 5, // NOT_FOUND
    });
  });
});
