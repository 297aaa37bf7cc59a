// berthd killed (SIGKILL) while many containers are being created at once:
// after the restart, every shim of that daemon either serves a task that
// `tasks ls` lists, or is gone together with its bundle and runc state; and
// removing the containers leaves no shim behind.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import { busyboxAvailable, makeBusyboxRootfs } from './fixtures/busybox-rootfs.js';
import { berth, startDaemon, type TestDaemon } from './helpers/daemon.js';
import { shimServers } from './helpers/leftovers.js';
import { killLeftoverShims, removeAllTasks, taskStateDir, waitFor } from './helpers/tasks.js';

const canRun =
  process.getuid?.() === 0 &&
  busyboxAvailable() &&
  ['/usr/sbin/runc', '/usr/bin/runc'].some((p) => fs.existsSync(p));
const NS = `crashcreate${process.pid}`;
const CONTAINERS = 20;
/** Bundles that must exist before the kill, so it lands in the middle of the creates. */
const KILL_AFTER_BUNDLES = 6;

describe.skipIf(!canRun)('SIGKILL during concurrent creates', () => {
  let tmp: string;
  let rootfs: string;
  let d: TestDaemon;
  let client: Client | undefined;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-crash-create-'));
    rootfs = makeBusyboxRootfs(path.join(tmp, 'rootfs'));
    d = await startDaemon();
  });
  afterAll(async () => {
    if (client) {
      await removeAllTasks(client);
      client.close();
    }
    if (d) {
      killLeftoverShims(d.state);
      for (const pid of shimServers(d.address, d.dir, [d.proc.pid!, process.pid])) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await d.dispose();
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const bundles = () => {
    const dir = path.join(taskStateDir(d.state), NS);
    return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  };

  it('leaves no shim that serves no listed task', async () => {
    const runs = Array.from({ length: CONTAINERS }, (_, i) =>
      berth(d, ['run', '-d', '--rootfs', rootfs, `c${i}`, 'sleep', '300'], { namespace: NS }),
    );
    await waitFor(
      async () => bundles().length >= KILL_AFTER_BUNDLES || undefined,
      60_000,
      `${KILL_AFTER_BUNDLES} bundles`,
    );
    await d.stop('SIGKILL');
    await Promise.all(runs); // the CLIs fail or finish; either is fine here
    await d.restart();
    client = new Client({ address: d.address, namespace: NS });

    const listed = new Set((await client.tasks.list()).map((t) => t.id));
    // Every shim serving this daemon has a listed task in its bundle.
    const shimBundles = () =>
      shimServers(d.address, d.dir, [d.proc.pid!, process.pid]).map((pid) =>
        path.basename(fs.readlinkSync(`/proc/${pid}/cwd`)),
      );
    for (const id of shimBundles()) expect(listed, `shim for ${id}`).toContain(id);
    // Every bundle left has a listed task, and so does every runc container.
    for (const id of bundles()) expect(listed, `bundle ${id}`).toContain(id);
    const runcDir = path.join(d.state, 'runc', NS);
    const runcIds = fs.existsSync(runcDir) ? fs.readdirSync(runcDir) : [];
    for (const id of runcIds) expect(listed, `runc state of ${id}`).toContain(id);

    // containers rm refuses a running task (deleting the record would orphan
    // its shim), and with --force removes task and container together.
    const running = [...listed][0];
    if (running) {
      const refused = await berth(d, ['containers', 'rm', running], { namespace: NS });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/RUNNING: stop it first or use --force/);
      expect((await client.containers.get(running)).id).toBe(running);
    }
    for (const c of await client.containers.list()) {
      const r = await berth(d, ['containers', 'rm', '-f', c.id], { namespace: NS });
      expect(r.code, r.stderr).toBe(0);
    }
    expect(await client.containers.list()).toEqual([]);
    await waitFor(async () => shimBundles().length === 0 || undefined, 10_000, 'no shims');
    expect(bundles()).toEqual([]);
  });
});
