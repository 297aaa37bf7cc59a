import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../../errors/catalogue.js';
import { NativeSnapshotter } from '../../../snapshots/native/native.js';
import { ContentMetadataStore } from '../content.js';
import { LocalContentStore } from '../../content/store.js';
import { ImageStore } from '../images.js';
import { LEASE_EXPIRE_LABEL, LeaseStore } from '../leases.js';
import { MetadataDB } from '../db.js';
import {
  type NamespacedSnapshotter,
  SnapshotService,
} from '../../../plugins/snapshots/namespaced.js';
import { Collector, type CollectResult } from './collector.js';
import { contentLeaseHooks, readLeasedIngests, snapshotLeaseHook } from '../lease-hooks.js';

const HOUR = 3_600_000;
const SPEC = {
  typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
  value: new Uint8Array(),
};

let dir: string;
let db: MetadataDB;
let local: LocalContentStore;
let content: ContentMetadataStore;
let backend: NativeSnapshotter;
let snapshots: SnapshotService;
let sn: NamespacedSnapshotter;
let leases: LeaseStore;
let images: ImageStore;
let collector: Collector;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-gc-'));
  db = await MetadataDB.open(join(dir, 'meta'));
  local = await LocalContentStore.open(join(dir, 'content'));
  content = new ContentMetadataStore(db, local, contentLeaseHooks);
  backend = await NativeSnapshotter.open(join(dir, 'native'));
  snapshots = new SnapshotService(db, new Map([['native', backend]]), { publish: () => undefined });
  snapshots.setLeaseHook(snapshotLeaseHook);
  sn = snapshots.snapshotter('native');
  leases = new LeaseStore(db);
  images = new ImageStore(db);
  collector = new Collector({
    db,
    leases,
    content,
    snapshotters: snapshots.backends,
    ingestExpiryMs: 24 * HOUR,
  });
});
afterEach(async () => {
  await collector.idle();
  await backend.close();
  await db.close();
  await rm(dir, { recursive: true, force: true });
});

async function put(
  ns: string,
  data: string,
  opts: { lease?: string; labels?: Record<string, string>; ref?: string } = {},
): Promise<string> {
  const w = await content.writer(ns, opts.ref ?? `ref-${data}`, { lease: opts.lease });
  await w.write(Buffer.from(data));
  return (await w.commit(0, '', opts.labels)).digest;
}

async function has(ns: string, digest: string): Promise<boolean> {
  try {
    await content.info(ns, digest);
    return true;
  } catch (err) {
    if (isBerthError(err, 'NotFound')) return false;
    throw err;
  }
}

async function backendKeys(): Promise<string[]> {
  const out: string[] = [];
  await backend.walk((i) => {
    out.push(i.name);
  });
  return out.sort();
}

async function snapKeys(ns: string): Promise<string[]> {
  return (await sn.list(ns)).map((i) => i.name).sort();
}

const contentIds = (r: CollectResult) => r.content.map((c) => `${c.namespace} ${c.digest}`).sort();

describe('collector', () => {
  it('removes unreferenced content records and their blobs', async () => {
    const a = await put('ns1', 'a');
    const b = await put('ns1', 'b', { labels: { 'containerd.io/gc.root': 'true' } });
    const r = await collector.collect();
    expect(contentIds(r)).toEqual([`ns1 ${a}`]);
    expect(r.blobs).toEqual([a]);
    expect(r.blobBytes).toBe('a'.length);
    expect(await has('ns1', a)).toBe(false);
    expect(await local.exists(a)).toBe(false);
    expect(await has('ns1', b)).toBe(true);
    // Nothing left to do.
    const again = await collector.collect();
    expect(again.content).toEqual([]);
    expect(again.blobs).toEqual([]);
    expect(again.blobBytes).toBe(0);
  });

  it('keeps a blob another namespace still references', async () => {
    const a1 = await put('ns1', 'shared');
    const a2 = await put('ns2', 'shared', { labels: { 'containerd.io/gc.root': 'true' } });
    expect(a1).toBe(a2);
    const r = await collector.collect();
    expect(contentIds(r)).toEqual([`ns1 ${a1}`]);
    expect(r.blobs).toEqual([]);
    expect(await local.exists(a1)).toBe(true);
  });

  it('content, ingests and snapshots made under a lease live until it is deleted', async () => {
    await leases.create('ns1', { id: 'pull' });
    const layer = await put('ns1', 'layer', { lease: 'pull' });
    const cfg = await put('ns1', 'config', {
      lease: 'pull',
      labels: { 'containerd.io/gc.ref.snapshot.native': 'chain' },
    });
    const partial = await content.writer('ns1', 'partial', { lease: 'pull' });
    await partial.write(Buffer.from('half'));
    await partial.close();
    await sn.prepare('ns1', 'extract', '', { lease: 'pull' });
    await sn.commit('ns1', 'chain', 'extract', { lease: 'pull' });
    await sn.prepare('ns1', 'unleased', '');

    expect(
      (await leases.listResources('ns1', 'pull')).map((r) => `${r.type} ${r.id}`).sort(),
    ).toEqual(
      [
        `content ${cfg}`,
        `content ${layer}`,
        'ingests partial',
        'ingests ref-config',
        'ingests ref-layer',
        'snapshots/native chain',
        'snapshots/native extract',
      ].sort(),
    );

    let r = await collector.collect();
    expect(r.content).toEqual([]);
    expect(r.snapshots).toEqual([{ namespace: 'ns1', snapshotter: 'native', key: 'unleased' }]);
    expect(r.ingests).toEqual([]);
    expect(await snapKeys('ns1')).toEqual(['chain']);
    expect(await backendKeys()).toHaveLength(1);

    await leases.delete('ns1', 'pull');
    r = await collector.collect();
    expect(contentIds(r)).toEqual([`ns1 ${cfg}`, `ns1 ${layer}`].sort());
    expect(r.snapshots).toEqual([{ namespace: 'ns1', snapshotter: 'native', key: 'chain' }]);
    expect(r.ingests).toEqual([{ namespace: 'ns1', ref: 'partial' }]);
    expect(r.blobs.sort()).toEqual([cfg, layer].sort());
    expect(r.backendSnapshots).toHaveLength(1);
    expect(await backendKeys()).toEqual([]);
    expect(await local.listStatuses()).toEqual([]);
    expect(await db.view((tx) => readLeasedIngests(tx, 'ns1'))).toEqual(new Set());
  });

  it('a request naming a missing lease fails with NotFound and leaves nothing behind', async () => {
    const notFound = async (p: Promise<unknown>) => {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isBerthError(err, 'NotFound'), String(err)).toBe(true);
    };
    await notFound(sn.prepare('ns1', 'k', '', { lease: 'missing' }));
    expect(await snapKeys('ns1')).toEqual([]);
    expect(await backendKeys()).toEqual([]);
    await notFound(content.writer('ns1', 'r', { lease: 'missing' }));
    await leases.create('ns1', { id: 'l' });
    const w = await content.writer('ns1', 'r2', { lease: 'l' });
    await w.write(Buffer.from('x'));
    await leases.delete('ns1', 'l');
    await notFound(w.commit());
    expect(await content.list('ns1')).toEqual([]);
  });

  it('an image keeps its target and what its labels reference; deleting it releases them', async () => {
    const layer = await put('ns1', 'L');
    const config = await put('ns1', 'C', {
      labels: { 'containerd.io/gc.ref.snapshot.native': 'chain' },
    });
    const manifest = await put('ns1', 'M', {
      labels: {
        'containerd.io/gc.ref.content.config': config,
        'containerd.io/gc.ref.content.l.0': layer,
      },
    });
    await sn.prepare('ns1', 'x', '');
    await sn.commit('ns1', 'chain', 'x');
    await images.create('ns1', {
      name: 'example.com/app:1',
      target: {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: manifest,
        size: 1,
      },
    });
    let r = await collector.collect();
    expect(r.content).toEqual([]);
    expect(r.snapshots).toEqual([]);
    await images.delete('ns1', 'example.com/app:1');
    r = await collector.collect();
    expect(contentIds(r)).toEqual([config, layer, manifest].map((d) => `ns1 ${d}`).sort());
    expect(r.snapshots.map((s) => s.key)).toEqual(['chain']);
  });

  it('a container keeps its snapshot and the parent chain; dead children are unlinked', async () => {
    await sn.prepare('ns1', 'base-a', '');
    await sn.commit('ns1', 'base', 'base-a');
    await sn.prepare('ns1', 'rootfs', 'base');
    await sn.prepare('ns1', 'sibling', 'base');
    await db.containers.create('ns1', {
      id: 'c1',
      runtime: { name: 'io.containerd.runc.v2' },
      spec: SPEC,
      snapshotter: 'native',
      snapshotKey: 'rootfs',
    });
    const r = await collector.collect();
    expect(r.snapshots.map((s) => s.key)).toEqual(['sibling']);
    expect(await snapKeys('ns1')).toEqual(['base', 'rootfs']);
    expect(await backendKeys()).toHaveLength(2);

    // The parent no longer lists the collected child, so it can go once free.
    await db.containers.delete('ns1', 'c1');
    await sn.remove('ns1', 'rootfs');
    await sn.remove('ns1', 'base');
  });

  it('deletes expired leases, also when nothing else changed', async () => {
    const past = new Date(Date.now() - 1000).toISOString();
    const future = new Date(Date.now() + HOUR).toISOString();
    await leases.create('ns1', { id: 'old', labels: { [LEASE_EXPIRE_LABEL]: past } });
    await leases.create('ns1', { id: 'new', labels: { [LEASE_EXPIRE_LABEL]: future } });
    const a = await put('ns1', 'a', { lease: 'old' });
    const b = await put('ns1', 'b', { lease: 'new' });
    expect(await collector.hasExpired()).toBe(true);
    const r = await collector.collect();
    expect(r.leases).toEqual([{ namespace: 'ns1', id: 'old' }]);
    expect(contentIds(r)).toEqual([`ns1 ${a}`]);
    expect(await has('ns1', b)).toBe(true);
    expect((await leases.list('ns1')).map((l) => l.id)).toEqual(['new']);
    expect(await collector.hasExpired()).toBe(false);
  });

  it('ingests without a lease are aborted only once stale', async () => {
    const w = await content.writer('ns1', 'upload');
    await w.write(Buffer.from('abc'));
    await w.close();
    expect((await collector.collect()).ingests).toEqual([]);
    expect(await collector.hasExpired()).toBe(false);

    const [st] = await local.listStatuses();
    const old = new Date(Date.now() - 25 * HOUR);
    const ingestDir = join(dir, 'content', 'ingest');
    const { readdir, writeFile } = await import('node:fs/promises');
    for (const name of await readdir(ingestDir)) {
      await writeFile(join(ingestDir, name, 'updatedat'), old.toISOString());
      await utimes(join(ingestDir, name, 'data'), old, old);
    }
    expect(st!.ref).toBe('ns1/upload');
    expect(await collector.hasExpired()).toBe(true);
    expect((await collector.collect()).ingests).toEqual([{ namespace: 'ns1', ref: 'upload' }]);
    expect(await local.listStatuses()).toEqual([]);
  });

  it('removes backend snapshots without records, children first', async () => {
    await backend.prepare('orphan/1/a', '');
    await backend.commit('orphan/2/b', 'orphan/1/a');
    await backend.prepare('orphan/3/c', 'orphan/2/b');
    await sn.prepare('ns1', 'kept', '', {});
    await db.containers.create('ns1', {
      id: 'c1',
      runtime: { name: 'io.containerd.runc.v2' },
      spec: SPEC,
      snapshotter: 'native',
      snapshotKey: 'kept',
    });
    const r = await collector.collect();
    expect(r.backendSnapshots.map((s) => s.key)).toEqual(['orphan/3/c', 'orphan/2/b']);
    expect(r.errors).toEqual([]);
    expect(await backendKeys()).toHaveLength(1);
  });

  it('never removes a blob whose commit races the sweep', async () => {
    await leases.create('ns1', { id: 'l' });
    const commits: Promise<string>[] = [];
    const runs: Promise<CollectResult>[] = [];
    for (let i = 0; i < 20; i++) {
      commits.push(put('ns1', `blob-${i}`, { lease: 'l' }));
      runs.push(collector.collect());
    }
    const digests = await Promise.all(commits);
    for (const r of await Promise.all(runs)) expect(r.content).toEqual([]);
    for (const d of digests) {
      expect(await has('ns1', d)).toBe(true);
      expect(await local.exists(d)).toBe(true);
    }
  });

  it('never leaves a content record without its blob when unleased commits race the sweep', async () => {
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      work.push(put('ns1', `free-${i}`).catch(() => undefined));
      work.push(collector.collect());
    }
    await Promise.all(work);
    for (const info of await content.list('ns1'))
      expect(await local.exists(info.digest)).toBe(true);
    await collector.collect();
    expect(await content.list('ns1')).toEqual([]);
  });

  it('serialises runs; concurrent callers share the next run', async () => {
    const first = collector.collect();
    const second = collector.collect();
    const third = collector.collect();
    expect(second).toBe(third);
    expect(second).not.toBe(first);
    // The queued run starts only after the first one finished.
    let firstDone = false;
    void first.then(() => (firstDone = true));
    await second;
    expect(firstDone).toBe(true);
  });
});
