// Garbage collection against a real berthd: leases protect what is written
// under them, images and containers keep what they reference, gc.root labels
// pin objects, the timer collects expired leases with no request, and a daemon
// killed mid-write leaves nothing behind once GC runs after the restart.
import { credentials, Metadata } from '@grpc/grpc-js';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import { leasesApi, rfc3339 } from '../client/leases.js';
import { type CollectResponse, GCClient } from '../api/gen/berth/gc/v1/gc.js';
import {
  ContentClient,
  WriteAction,
  type WriteContentRequest,
  type WriteContentResponse,
} from '../api/gen/containerd/services/content/v1/content.js';
import { SnapshotsClient } from '../api/gen/containerd/services/snapshots/v1/snapshots.js';
import { isBerthError } from '../core/errors/catalogue.js';
import { buildBusyboxImage } from './fixtures/image-builder.js';
import { berth, run, startDaemon, type TestDaemon } from './helpers/daemon.js';

const CTR = '/usr/bin/ctr';
const SNAPSHOTTER = 'native';
const SPEC_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';

function md(namespace: string, lease?: string): Metadata {
  const m = new Metadata();
  m.set('containerd-namespace', namespace);
  if (lease) m.set('containerd-lease', lease);
  return m;
}

/** Streams `chunks` into the ingest `ref` over the Write RPC; commits unless told not to. */
async function writeContent(
  address: string,
  namespace: string,
  ref: string,
  chunks: Buffer[],
  opts: { lease?: string; commit?: boolean; labels?: Record<string, string> } = {},
): Promise<string> {
  const c = new ContentClient(`unix://${address}`, credentials.createInsecure());
  const call = c.write(md(namespace, opts.lease));
  const responses: WriteContentResponse[] = [];
  const waiters: ((r: WriteContentResponse | Error) => void)[] = [];
  call.on('data', (r: WriteContentResponse) => {
    const w = waiters.shift();
    if (w) w(r);
    else responses.push(r);
  });
  call.on('error', (err: Error) => {
    for (const w of waiters.splice(0)) w(err);
  });
  const send = (req: Partial<WriteContentRequest>) =>
    new Promise<WriteContentResponse>((resolve, reject) => {
      waiters.push((r) => (r instanceof Error ? reject(r) : resolve(r)));
      call.write({
        action: WriteAction.STAT,
        ref,
        offset: 0,
        total: 0,
        expected: '',
        data: new Uint8Array(),
        labels: {},
        ...req,
      });
    });
  try {
    await send({ action: WriteAction.STAT });
    let offset = 0;
    for (const data of chunks) {
      offset = (await send({ action: WriteAction.WRITE, offset, data })).offset;
    }
    if (opts.commit === false) return '';
    const done = await send({ action: WriteAction.COMMIT, offset, labels: opts.labels ?? {} });
    return done.digest;
  } finally {
    call.end();
    c.close();
  }
}

function snapshotCall<T>(
  address: string,
  namespace: string,
  method: 'prepare' | 'commit' | 'remove',
  req: Record<string, unknown>,
  lease?: string,
): Promise<T> {
  const c = new SnapshotsClient(`unix://${address}`, credentials.createInsecure());
  return new Promise<T>((resolve, reject) => {
    (c as unknown as Record<string, Function>)[method]!(
      { snapshotter: SNAPSHOTTER, labels: {}, ...req },
      md(namespace, lease),
      (err: Error | null, res: T) => {
        c.close();
        if (err) reject(err);
        else resolve(res);
      },
    );
  });
}

async function gcNow(client: Client): Promise<CollectResponse> {
  return client.call<CollectResponse>(GCClient, 'collect', {});
}

async function blobFiles(d: TestDaemon): Promise<string[]> {
  const dir = path.join(d.root, 'io.berth.content.v1.content', 'blobs', 'sha256');
  if (!existsSync(dir)) return [];
  return (await readdir(dir)).map((h) => `sha256:${h}`).sort();
}

async function ingestDirs(d: TestDaemon): Promise<string[]> {
  const dir = path.join(d.root, 'io.berth.content.v1.content', 'ingest');
  return existsSync(dir) ? readdir(dir) : [];
}

async function nativeSnapshotDirs(d: TestDaemon): Promise<string[]> {
  const dir = path.join(d.root, 'io.berth.snapshotter.v1.native', 'snapshots');
  return existsSync(dir) ? readdir(dir) : [];
}

/** Mount points under the daemon's directories. */
async function mountsUnder(d: TestDaemon): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p.startsWith(d.dir));
}

async function waitFor(pred: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('garbage collection in berthd', () => {
  let d: TestDaemon;
  let client: Client;
  let tmp: string;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-gc-it-'));
    // A fast timer so the idle-collection test need not wait a minute.
    d = await startDaemon({
      config: `version = 1\n[plugins."io.berth.gc.v1.scheduler"]\ninterval = "500ms"\nstartup_delay = "1ms"\n`,
    });
    client = new Client({ address: d.address, namespace: 'gc' });
  });
  afterAll(async () => {
    client?.close();
    await d?.dispose();
    await rm(tmp, { recursive: true, force: true });
  });

  it('berth gc collects unreferenced content and prints what it removed', async () => {
    // Nothing here deletes anything, so no collection runs on its own meanwhile.
    const loose = await writeContent(d.address, 'gc', 'loose-0', [Buffer.from('no lease')]);
    const out = await berth(d, ['-n', 'gc', 'gc']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^TYPE\s+NAMESPACE\s+ID/);
    expect(out.stdout).toMatch(new RegExp(`content\\s+gc\\s+${loose}`));
    expect(out.stdout).toMatch(new RegExp(`blob\\s+-\\s+${loose}`));
    expect(out.stdout).toMatch(
      /removed 1 content record, 0 snapshots, 0 leases, 0 ingests, 1 blob, /,
    );
    expect(await blobFiles(d)).not.toContain(loose);
    const json = await berth(d, ['gc', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ Content: [], Blobs: [], Errors: [] });
  });

  it('content written under a lease survives GC until the lease is deleted', async () => {
    const leases = leasesApi(client);
    await leases.create({ id: 'hold' });
    const digest = await writeContent(d.address, 'gc', 'blob-1', [Buffer.from('leased data')], {
      lease: 'hold',
    });
    expect(await leases.listResources('hold')).toContainEqual({ id: digest, type: 'content' });
    await gcNow(client);
    expect((await client.content.info(digest)).digest).toBe(digest);
    expect(await blobFiles(d)).toContain(digest);

    // A lease deletion schedules a collection by itself; gcNow runs one after it either way.
    await leases.delete('hold');
    await gcNow(client);
    expect(await blobFiles(d)).not.toContain(digest);
    await expect(client.content.info(digest)).rejects.toSatisfy((e) => isBerthError(e, 'NotFound'));
  });

  it('a request naming a lease that does not exist fails with NotFound', async () => {
    await expect(
      writeContent(d.address, 'gc', 'blob-x', [Buffer.from('x')], { lease: 'no-such-lease' }),
    ).rejects.toMatchObject({ code: 5 });
    await expect(
      snapshotCall(d.address, 'gc', 'prepare', { key: 'k-x', parent: '' }, 'no-such-lease'),
    ).rejects.toMatchObject({ code: 5 });
    expect((await client.snapshots(SNAPSHOTTER).list()).map((s) => s.name)).not.toContain('k-x');
  });

  it.skipIf(!existsSync(CTR))('an imported image keeps its blobs', async () => {
    const tar = path.join(tmp, 'busybox.tar');
    const img = await buildBusyboxImage(tar, { ref: 'example.com/gc/busybox:1' });
    const imp = await run(CTR, [
      '-a',
      d.address,
      '-n',
      'gc',
      'images',
      'import',
      '--no-unpack',
      tar,
    ]);
    expect(imp.code, imp.stderr).toBe(0);
    const r = await gcNow(client);
    const removed = new Set(r.content.map((c) => c.digest));
    for (const digest of img.blobs.keys()) {
      expect(removed.has(digest), digest).toBe(false);
      expect(await blobFiles(d)).toContain(digest);
    }
    // ctr's import lease is gone, so the image alone holds them: delete it and they go.
    const rm = await run(CTR, [
      '-a',
      d.address,
      '-n',
      'gc',
      'images',
      'rm',
      '--sync',
      'example.com/gc/busybox:1',
    ]);
    expect(rm.code, rm.stderr).toBe(0);
    for (const digest of img.blobs.keys()) expect(await blobFiles(d)).not.toContain(digest);
  });

  it('a snapshot a container uses survives; gc.root pins content and snapshots', async () => {
    // Built under a lease, as a client must, until the container references it.
    const leases = leasesApi(client);
    await leases.create({ id: 'build' });
    await snapshotCall(d.address, 'gc', 'prepare', { key: 'base-a', parent: '' }, 'build');
    await snapshotCall(d.address, 'gc', 'commit', { name: 'base', key: 'base-a' }, 'build');
    await snapshotCall(d.address, 'gc', 'prepare', { key: 'rootfs', parent: 'base' }, 'build');
    await snapshotCall(d.address, 'gc', 'prepare', { key: 'scratch', parent: '' }, 'build');
    await snapshotCall(d.address, 'gc', 'prepare', {
      key: 'pinned',
      parent: '',
      labels: { 'containerd.io/gc.root': 'true' },
    });
    await client.containers.create({
      id: 'user',
      runtime: { name: 'io.containerd.runc.v2', options: undefined },
      spec: { typeUrl: SPEC_URL, value: Buffer.from('{}') },
      snapshotter: SNAPSHOTTER,
      snapshotKey: 'rootfs',
    });
    const pinned = await writeContent(d.address, 'gc', 'pinned-blob', [Buffer.from('pinned')], {
      labels: { 'containerd.io/gc.root': 'true' },
    });
    const loose = await writeContent(d.address, 'gc', 'loose-blob', [Buffer.from('loose')], {
      lease: 'build',
    });
    await leases.delete('build');
    await gcNow(client);
    const names = async () =>
      (await client.snapshots(SNAPSHOTTER).list()).map((s) => s.name).sort();
    expect(await names()).toEqual(['base', 'pinned', 'rootfs']);
    expect((await client.content.info(pinned)).digest).toBe(pinned);
    expect(await blobFiles(d)).not.toContain(loose);
    expect((await nativeSnapshotDirs(d)).length).toBe(3);

    await client.containers.delete('user');
    await gcNow(client);
    expect(await names()).toEqual(['pinned']);
    expect((await nativeSnapshotDirs(d)).length).toBe(1);
  });

  it('the timer collects an expired lease with no request', async () => {
    // The collection the lease's creation schedules runs within the 500 ms
    // interval, long before the expiry: only the periodic check can collect it.
    const leases = leasesApi(client);
    await leases.create({
      id: 'short',
      labels: { 'containerd.io/gc.expire': rfc3339(new Date(Date.now() + 3000)) },
    });
    const digest = await writeContent(d.address, 'gc', 'short-blob', [Buffer.from('short')], {
      lease: 'short',
    });
    await waitFor(
      async () => !(await leases.list()).some((l) => l.id === 'short'),
      15_000,
      'the expired lease to be collected',
    );
    await waitFor(
      async () => !(await blobFiles(d)).includes(digest),
      5_000,
      'the blob of the expired lease to be removed',
    );
  });
});

describe('garbage collection after a crash', () => {
  let d: TestDaemon | undefined;
  afterEach(async () => {
    await d?.dispose();
    d = undefined;
  });

  it('kill -9 mid-write under a lease, restart, delete the lease: nothing leaks', async () => {
    d = await startDaemon();
    const daemon = d;
    const client = new Client({ address: daemon.address, namespace: 'crash' });
    const leases = leasesApi(client);
    await leases.create({ id: 'pull' });
    // A committed blob, a snapshot chain and a half-written ingest, all under the lease.
    const done = await writeContent(
      daemon.address,
      'crash',
      'layer-0',
      [Buffer.from('layer zero')],
      {
        lease: 'pull',
      },
    );
    await snapshotCall(
      daemon.address,
      'crash',
      'prepare',
      { key: 'extract-1', parent: '' },
      'pull',
    );
    await snapshotCall(
      daemon.address,
      'crash',
      'commit',
      { name: 'chain-1', key: 'extract-1' },
      'pull',
    );
    await snapshotCall(
      daemon.address,
      'crash',
      'prepare',
      { key: 'extract-2', parent: 'chain-1' },
      'pull',
    );
    const chunk = Buffer.alloc(64 * 1024, 7);
    const writing = writeContent(
      daemon.address,
      'crash',
      'layer-1',
      Array.from({ length: 64 }, () => chunk),
      { lease: 'pull', commit: false },
    ).catch(() => 'interrupted');
    await waitFor(async () => (await ingestDirs(daemon)).length > 0, 10_000, 'the ingest to start');
    await daemon.stop('SIGKILL');
    await writing;
    client.close();

    await daemon.restart();
    const after = new Client({ address: daemon.address, namespace: 'crash' });
    try {
      // The lease still protects everything after the restart.
      let r = await gcNow(after);
      expect(r.content).toEqual([]);
      expect(r.snapshots).toEqual([]);
      expect((await after.content.info(done)).digest).toBe(done);
      expect((await after.content.statuses()).map((s) => s.ref)).toContain('layer-1');

      await leasesApi(after).delete('pull', { sync: true });
      r = await gcNow(after); // anything the sync collection left (nothing expected)
      expect(r.errors).toEqual([]);
      expect(await after.content.statuses()).toEqual([]);
      expect(await ingestDirs(daemon)).toEqual([]);
      expect(await after.content.list()).toEqual([]);
      expect(await blobFiles(daemon)).toEqual([]);
      expect(await after.snapshots(SNAPSHOTTER).list()).toEqual([]);
      expect(await nativeSnapshotDirs(daemon)).toEqual([]);
      expect(await mountsUnder(daemon)).toEqual([]);
    } finally {
      after.close();
    }
  });
});
