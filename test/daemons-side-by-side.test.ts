// Two berthd on one host, each with its own --state, running containers with
// the same namespace and id: everything a daemon creates at run time (shim
// sockets, runc's state, bundles) lives under its own state directory, so
// neither can see, fail on, or delete the other's container.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import { Status } from '../api/gen/containerd/types/task/task.js';
import { generateDefaultSpec, withEnv, withProcessArgs, withRootfs } from '../core/oci/index.js';
import { busyboxAvailable, makeBusyboxRootfs } from './fixtures/busybox-rootfs.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { alive, killLeftoverShims, removeAllTasks } from './helpers/tasks.js';

const RUNC_SHIM = '/usr/bin/containerd-shim-runc-v2';
const canRun =
  process.getuid?.() === 0 &&
  busyboxAvailable() &&
  ['/usr/sbin/runc', '/usr/bin/runc'].some((p) => fs.existsSync(p));
const NS = `twin${process.pid}`;

describe.skipIf(!canRun)('two daemons side by side', () => {
  let tmp: string;
  let rootfs: string;
  const daemons: { d: TestDaemon; client: Client }[] = [];

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-twins-'));
    rootfs = makeBusyboxRootfs(path.join(tmp, 'rootfs'));
    for (let i = 0; i < 2; i++) {
      const d = await startDaemon();
      daemons.push({ d, client: new Client({ address: d.address, namespace: NS }) });
    }
  });
  afterAll(async () => {
    for (const { d, client } of daemons) {
      await removeAllTasks(client);
      client.close();
      killLeftoverShims(d.state);
      await d.dispose();
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const shims = [
    { name: 'berth-shim', runtime: 'io.containerd.berth.v2', ok: true },
    { name: "Debian's runc shim", runtime: 'io.containerd.runc.v2', ok: fs.existsSync(RUNC_SHIM) },
  ];
  for (const s of shims) {
    it.skipIf(!s.ok)(`same namespace and id, ${s.name}: neither touches the other`, async () => {
      const id = `twin-${s.runtime.split('.')[2]}`;
      const [a, b] = daemons as [(typeof daemons)[0], (typeof daemons)[0]];
      const run = async (c: Client) => {
        const spec = generateDefaultSpec({ id, namespace: NS }, [
          withRootfs(rootfs),
          withEnv(['PATH=/bin']),
          withProcessArgs('sleep', '300'),
        ]) as unknown as Record<string, unknown>;
        const ctr = await c.newContainer({ id, spec, runtime: s.runtime });
        const task = await ctr.newTask({ stdio: false });
        await task.start();
        return { ctr, task };
      };
      const first = await run(a.client);
      const second = await run(b.client); // failed before: "container with given ID already exists"
      expect(second.task.pid).not.toBe(first.task.pid);

      // Each daemon's runc state is under its own --state.
      for (const { d } of [a, b]) {
        expect(fs.existsSync(path.join(d.state, 'runc', NS, id, 'state.json'))).toBe(true);
      }
      if (s.runtime === 'io.containerd.berth.v2') {
        // And so are Berth's shim sockets.
        for (const { d } of [a, b])
          expect(fs.readdirSync(path.join(d.state, 's')).length).toBeGreaterThan(0);
      }

      // B removes its container; A's keeps running.
      await second.task.kill(9);
      await second.task.wait();
      await second.task.delete();
      await second.ctr.delete();
      expect(alive(first.task.pid)).toBe(true);
      expect((await a.client.tasks.get(id)).status).toBe(Status.RUNNING);

      await first.task.kill(9);
      await first.task.wait();
      await first.task.delete();
      await first.ctr.delete();
    });
  }
});
