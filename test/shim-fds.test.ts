// What a shim holds open: its stdio, its sockets and pipes, and what its
// containers need, never a file of the daemon that started it. LevelDB opens
// its files without close-on-exec, so without care every shim would keep the
// metadata and snapshotter databases' LOCK, LOG, MANIFEST and log files open
// for the life of its containers. Checked for Berth's own shim (which also
// closes leaked fds itself) and for Debian's runc shim (which relies on the
// daemon alone), and for a spare shim that has no container yet.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import { generateDefaultSpec, withEnv, withProcessArgs, withRootfs } from '../core/oci/index.js';
import { busyboxAvailable, makeBusyboxRootfs } from './fixtures/busybox-rootfs.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { killLeftoverShims, removeAllTasks, waitFor } from './helpers/tasks.js';

const RUNC_SHIM = '/usr/bin/containerd-shim-runc-v2';
const canRun =
  process.getuid?.() === 0 &&
  busyboxAvailable() &&
  ['/usr/sbin/runc', '/usr/bin/runc'].some((p) => fs.existsSync(p));
const NS = `shimfds${process.pid}`;

/** What each open fd of `pid` points at (paths, `socket:[…]`, `pipe:[…]`, …). */
function openFiles(pid: number): string[] {
  const dir = `/proc/${pid}/fd`;
  return fs.readdirSync(dir).flatMap((fd) => {
    try {
      return [fs.readlinkSync(path.join(dir, fd))];
    } catch {
      return []; // closed meanwhile
    }
  });
}

function parentOf(pid: number): number | undefined {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  return ppid > 1 ? ppid : undefined;
}

/** Pids whose command line ends with `start` and carries `socket`: the daemon's idle spares. */
function sparePids(socket: string): number[] {
  return fs.readdirSync('/proc').flatMap((e) => {
    if (!/^\d+$/.test(e)) return [];
    try {
      const args = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const cwd = fs.readlinkSync(`/proc/${e}/cwd`);
      return args.includes(socket) && args.at(-1) === 'start' && cwd === '/' ? [Number(e)] : [];
    } catch {
      return [];
    }
  });
}

describe.skipIf(!canRun)('shim file descriptors', () => {
  let d: TestDaemon;
  let tmp: string;
  let rootfs: string;
  let client: Client;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-shimfds-'));
    rootfs = makeBusyboxRootfs(path.join(tmp, 'rootfs'));
    d = await startDaemon();
    client = new Client({ address: d.address, namespace: NS });
  });
  afterEach(async () => {
    await removeAllTasks(client);
  });
  afterAll(async () => {
    if (client) {
      await removeAllTasks(client);
      client.close();
    }
    if (d) {
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
    it.skipIf(!s.ok)(`${s.name} holds no file of the daemon`, async () => {
      // The daemon's databases are open and written to (a record was just stored).
      const daemonFiles = openFiles(d.proc.pid!).filter((f) => f.startsWith(d.root));
      expect(daemonFiles.some((f) => f.endsWith('LOCK'))).toBe(true);

      const id = `fds-${s.runtime.split('.')[2]}`;
      const spec = generateDefaultSpec({ id, namespace: NS }, [
        withRootfs(rootfs),
        withEnv(['PATH=/bin']),
        withProcessArgs('sleep', '60'),
      ]) as unknown as Record<string, unknown>;
      const ctr = await client.newContainer({ id, spec, runtime: s.runtime });
      const task = await ctr.newTask({ stdio: false });
      await task.start();
      // The shim is the container's parent: runc is gone, the shim reaped its child.
      const shim = await waitFor(async () => parentOf(task.pid), 10_000, 'the shim');
      expect(fs.readFileSync(`/proc/${shim}/cmdline`, 'utf8')).toContain('shim');
      const held = openFiles(shim);
      expect(held.filter((f) => f.startsWith(d.root))).toEqual([]);
      expect(held.filter((f) => /\.(db|ldb|log)$|\/(LOCK|LOG|MANIFEST-\d+)$/.test(f))).toEqual([]);
    });
  }

  it('an idle spare holds no file of the daemon', async () => {
    const spares = await waitFor(
      async () => {
        const p = sparePids(d.address);
        return p.length > 0 ? p : undefined;
      },
      10_000,
      'a spare shim',
    );
    for (const pid of spares)
      expect(openFiles(pid).filter((f) => f.startsWith(d.root))).toEqual([]);
  });
});
