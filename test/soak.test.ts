// A short soak: repeated `berth run --rm` and CRI pod cycles through one
// daemon, then nothing of theirs may be left: no shim server, mount, pinned
// netns, cgroup, bundle or runc state named after a removed id (all of it
// lives under the daemon's own directory), and the daemon's open fds back
// near where they started. The long version with memory figures is
// `node dist/bench/run.js soak`.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CriEnv, podConfig, startCriEnv } from './helpers/cri.js';
import { berth } from './helpers/daemon.js';
import { describeLeftovers, leftovers, processFigures } from './helpers/leftovers.js';

const isRoot = process.getuid?.() === 0;
const haveRunc = existsSync('/usr/sbin/runc') || existsSync('/usr/bin/runc');
const haveCni = existsSync('/usr/lib/cni/bridge');
const IMAGE = 'docker.io/library/busybox:latest';
const RUN_CYCLES = 12;
const POD_CYCLES = 4;
// A few fds come and go with gRPC connections and LevelDB's files; a leak
// of one per cycle would pass this many after the cycles above.
const FD_SLACK = 6;

describe.skipIf(!isRoot || !haveRunc || !haveCni)('soak: nothing is left behind', () => {
  let env: CriEnv;
  const scope = (removedIds: string[]) => ({
    socket: env.d.address,
    dir: env.d.dir,
    removedIds,
    except: [env.d.proc.pid!, process.pid],
  });
  const nothing = { shims: 0, mounts: 0, netns: 0, cgroups: 0, paths: 0 };

  beforeAll(async () => {
    env = await startCriEnv();
  });
  afterAll(async () => {
    await env?.dispose();
  });

  it(`${RUN_CYCLES} berth run --rm cycles`, async () => {
    const pid = env.d.proc.pid!;
    // One cycle first, so what the first container opens for good (the
    // snapshotter, the events connection) is in the baseline.
    const warm = `soak-warm-${process.pid}`;
    expect(
      (await berth(env.d, ['run', '--rm', IMAGE, warm, 'true'], { namespace: 'k8s.io' })).code,
    ).toBe(0);
    const before = processFigures(pid);
    const ids = [warm];
    for (let i = 0; i < RUN_CYCLES; i++) {
      const id = `soak-${process.pid}-${i}`;
      const r = await berth(env.d, ['run', '--rm', IMAGE, id, 'true'], { namespace: 'k8s.io' });
      expect(r.code, r.stderr).toBe(0);
      ids.push(id);
    }
    const left = leftovers(scope(ids));
    expect(left, describeLeftovers(left)).toEqual(nothing);
    expect(processFigures(pid).fds).toBeLessThanOrEqual(before.fds + FD_SLACK);
  });

  it(`${POD_CYCLES} CRI pod cycles with exec`, async () => {
    const pid = env.d.proc.pid!;
    const ids: string[] = [];
    let before: ReturnType<typeof processFigures> | undefined;
    for (let i = 0; i < POD_CYCLES; i++) {
      const config = podConfig(`soak-${i}`, path.join(env.work, 'logs', String(i)));
      const { podSandboxId } = await env.cri.runtime.runPodSandbox({ config });
      ids.push(podSandboxId);
      const { containerId } = await env.cri.runtime.createContainer({
        podSandboxId,
        config: {
          metadata: { name: 'sleeper' },
          image: { image: IMAGE },
          command: ['sleep', '3600'],
          logPath: 'sleeper.log',
        },
        sandboxConfig: config,
      });
      ids.push(containerId);
      await env.cri.runtime.startContainer({ containerId });
      const exec = await env.cri.runtime.execSync({ containerId, cmd: ['true'], timeout: 30 });
      expect(exec.exitCode).toBe(0);
      if (i === 0) {
        // The probe sees a live pod's pieces, so zeros below mean they are gone.
        const live = leftovers(scope([podSandboxId, containerId]));
        for (const kind of ['shims', 'mounts', 'netns', 'cgroups', 'paths'] as const) {
          expect(live[kind], `${kind} of a live pod: ${describeLeftovers(live)}`).toBeGreaterThan(
            0,
          );
        }
      }
      await env.cri.runtime.stopPodSandbox({ podSandboxId });
      await env.cri.runtime.removePodSandbox({ podSandboxId });
      // After the first cycle, so connections the first pod opened for good are counted.
      before ??= processFigures(pid);
    }
    const left = leftovers(scope(ids));
    expect(left, describeLeftovers(left)).toEqual(nothing);
    expect(processFigures(pid).fds).toBeLessThanOrEqual(before!.fds + FD_SLACK);
  });
});
