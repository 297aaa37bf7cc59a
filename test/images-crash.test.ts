// kill -9 of berthd while it unpacks an imported image, and while a pull
// writes content: after the restart the crashed client's lease still holds
// its work (as in containerd, where such a lease expires after a day or is
// removed by hand); once it is gone one GC leaves no extract snapshot, no
// mount, no ingest and no snapshot directory without a record, and the same
// import or pull run again succeeds and the image runs.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import { syntheticImage, type SyntheticImage } from '../bench/lib/synthetic-image.js';
import { chainIds } from '../core/images/oci/chain-id.js';
import { writeImageArchive } from './fixtures/image-builder.js';
import { unmountUnder } from './helpers/cri.js';
import { distCmd, run, startDaemon, type TestDaemon } from './helpers/daemon.js';
import {
  haveDockerRegistry,
  seedImage,
  startRegistry,
  type TestRegistry,
} from './helpers/registry.js';

const isRoot = process.getuid?.() === 0;
const haveRunc = existsSync('/usr/sbin/runc') || existsSync('/usr/bin/runc');
const NS = 'crash';
const SNAPSHOTTER = 'overlayfs';

/** The berth CLI with a timeout fit for images of tens of MiB on a slow disk. */
function berthCli(d: TestDaemon, args: string[]) {
  return run(process.execPath, [distCmd('berth'), '-a', d.address, '-n', NS, ...args], {
    timeoutMs: 180_000,
  });
}

async function ok(p: ReturnType<typeof berthCli>): Promise<string> {
  const r = await p;
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 120_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Mount points under `dir` (this process shares the daemon's mount namespace). */
async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

/** The directory a snapshot's mounts write to: the overlay upperdir, or a bind mount's source. */
function writableDir(mounts: { type: string; source: string; options: string[] }[]) {
  const m = mounts[0];
  if (!m) return undefined;
  const upper = m.options.find((o) => o.startsWith('upperdir='));
  return upper ? upper.slice('upperdir='.length) : m.source;
}

/**
 * Everything the tests check for leftovers, across all namespaces: extract
 * snapshots, mounts under the daemon's directories, ingests (through the API
 * and on disk), and snapshot directories without a record.
 */
async function inventory(d: TestDaemon) {
  const c = new Client({ address: d.address });
  try {
    const snapshots: string[] = [];
    const ingests: string[] = [];
    const leases: string[] = [];
    for (const ns of await c.namespaces.list()) {
      const cn = c.withNamespace(ns.name);
      for (const s of await cn.snapshots(SNAPSHOTTER).list()) snapshots.push(s.name);
      for (const i of await cn.content.statuses()) ingests.push(i.ref);
      for (const l of await cn.leases.list()) leases.push(l.id);
    }
    // Where the daemon keeps them, as its plugins report (exports.root).
    const rootOf = async (id: string) => {
      const [p] = await c.introspection.plugins([`id==${id}`]);
      const root = p?.exports.root;
      if (!root) throw new Error(`plugin ${id} reports no root`);
      return root;
    };
    const snapshotDirs = await readdir(path.join(await rootOf(SNAPSHOTTER), 'snapshots'));
    const ingestDirs = await readdir(path.join(await rootOf('content'), 'ingest'));
    return {
      snapshots,
      extract: snapshots.filter((n) => n.startsWith('extract-')),
      ingests,
      leases,
      snapshotDirs,
      ingestDirs,
      mounts: [...(await mountsUnder(d.root)), ...(await mountsUnder(d.state))],
    };
  } finally {
    c.close();
  }
}

/**
 * After the restart: GC keeps what the crashed client's lease holds; once the
 * lease is removed (what its expiry would do), GC leaves nothing behind.
 */
async function collectAfterCrash(d: TestDaemon) {
  await ok(berthCli(d, ['gc']));
  const held = await inventory(d);
  // Nothing but the crashed command's lease survives the restart, and it holds
  // every leftover extract snapshot (leased work is not garbage).
  expect(held.leases.length).toBe(1);
  const c = new Client({ address: d.address, namespace: NS });
  try {
    const resources = await c.leases.listResources(held.leases[0]!);
    for (const key of held.extract)
      expect(resources).toContainEqual({ id: key, type: `snapshots/${SNAPSHOTTER}` });
    for (const ref of held.ingests) expect(resources).toContainEqual({ id: ref, type: 'ingests' });
  } finally {
    c.close();
  }

  await ok(berthCli(d, ['leases', 'rm', held.leases[0]!]));
  await ok(berthCli(d, ['gc']));
  const after = await inventory(d);
  expect(after.extract).toEqual([]);
  expect(after.leases).toEqual([]);
  expect(after.ingests).toEqual([]);
  expect(after.ingestDirs).toEqual([]);
  expect(after.mounts).toEqual([]);
  // Every snapshot directory belongs to a snapshot record, and the other way round.
  expect(after.snapshotDirs.length).toBe(after.snapshots.length);
  return { held, after };
}

describe.skipIf(!isRoot)('kill -9 of berthd during image work', () => {
  let tmp: string;
  let img: SyntheticImage;
  let tar: string;
  let d: TestDaemon | undefined;
  let registry: TestRegistry | undefined;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-images-crash-'));
    // Two layers of 3000 files each on busybox: each takes seconds to apply.
    img = await syntheticImage({
      ref: 'example.com/crash/many-files:1',
      layers: [
        { dir: 'data/a', files: 3000, fileSize: 8 * 1024 },
        { dir: 'data/b', files: 3000, fileSize: 8 * 1024 },
      ],
    });
    tar = path.join(tmp, 'many-files.tar');
    writeImageArchive(img, tar);
  });

  afterEach(async () => {
    await registry?.dispose();
    registry = undefined;
    if (d) {
      await d.stop('SIGKILL');
      // A killed apply may leave a temporary mount behind; never remove through one.
      await unmountUnder(d.dir);
      await d.dispose();
      d = undefined;
    }
  });

  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('import killed mid-unpack: nothing leaks after GC, the import retried succeeds and runs', async () => {
    d = await startDaemon();
    const daemon = d;
    const client = new Client({ address: daemon.address, namespace: NS });
    const importing = berthCli(daemon, ['images', 'import', tar]);
    // Kill once a layer of random files is being written into its extract snapshot.
    const key = await waitFor('an extract snapshot being applied', async () => {
      for (const s of await client.snapshots(SNAPSHOTTER).list()) {
        if (!s.name.startsWith('extract-')) continue;
        const dir = writableDir(await client.snapshots(SNAPSHOTTER).mounts(s.name));
        if (dir && existsSync(path.join(dir, 'data'))) return s.name;
      }
      return undefined;
    });
    await daemon.stop('SIGKILL');
    client.close();
    const failed = await importing;
    expect(failed.code, 'the import ended before the kill').not.toBe(0);

    await daemon.restart();
    const { held } = await collectAfterCrash(daemon);
    expect(held.extract).toContain(key);

    await ok(berthCli(daemon, ['images', 'import', tar]));
    const after = await inventory(daemon);
    expect(after.extract).toEqual([]);
    expect(after.leases).toEqual([]);
    expect([...after.snapshots].sort()).toEqual(chainIds(img.layers.map((l) => l.diffId)).sort());
    if (haveRunc) {
      const r = await berthCli(daemon, ['run', '--rm', img.ref, 'crash-run-1', 'true']);
      expect(r.code, r.stderr).toBe(0);
      // Every file of both random layers is there (one line of output: a count).
      const count = await ok(
        berthCli(daemon, [
          'run',
          '--rm',
          img.ref,
          'crash-run-2',
          'sh',
          '-c',
          'find /data -type f | wc -l',
        ]),
      );
      expect(count.trim()).toBe(String(img.randomFiles));
    }
  });

  it.skipIf(!haveDockerRegistry)(
    'pull killed mid-download: no ingest survives GC, the pull retried succeeds and runs',
    async () => {
      registry = await startRegistry();
      const pulled = await syntheticImage({
        ref: 'crash/big:1',
        layers: [0, 1, 2].map((i) => ({ dir: `blob/${i}`, files: 4, fileSize: 5 << 20 })),
      });
      await seedImage(pulled, `${registry.host}/crash/big`, { tag: '1' });
      const ref = `${registry.host}/crash/big:1`;

      d = await startDaemon();
      const daemon = d;
      const client = new Client({ address: daemon.address, namespace: NS });
      const pulling = berthCli(daemon, ['images', 'pull', '--plain-http', ref]);
      // Kill while a layer is partly written into the content store.
      const ingest = await waitFor('an ingest in progress', async () => {
        const s = (await client.content.statuses()).find(
          (i) => i.offset > 0 && i.offset < i.total && i.total > 1 << 20,
        );
        return s?.ref;
      });
      await daemon.stop('SIGKILL');
      client.close();
      const failed = await pulling;
      expect(failed.code, 'the pull ended before the kill').not.toBe(0);

      await daemon.restart();
      const { held } = await collectAfterCrash(daemon);
      expect(held.ingests).toContain(ingest);

      const out = await ok(berthCli(daemon, ['images', 'pull', '--plain-http', ref]));
      expect(out).toContain(pulled.manifest.digest);
      const after = await inventory(daemon);
      expect(after.ingests).toEqual([]);
      expect(after.extract).toEqual([]);
      expect([...after.snapshots].sort()).toEqual(
        chainIds(pulled.layers.map((l) => l.diffId)).sort(),
      );
      if (haveRunc) {
        const r = await berthCli(daemon, ['run', '--rm', ref, 'crash-run-3', 'true']);
        expect(r.code, r.stderr).toBe(0);
      }
    },
  );
});
