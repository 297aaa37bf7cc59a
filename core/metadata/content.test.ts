import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BerthError } from '../errors/catalogue.js';
import { MetadataDB } from './db.js';
import { resourceKey } from './keys.js';
import { digestOf } from '../content/digest.js';
import { type ContentLeaseHooks, ContentMetadataStore } from './content.js';
import { LocalContentStore } from '../content/store.js';

const code = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return (err as BerthError).code;
  }
  return 'OK';
};

describe('ContentMetadataStore', () => {
  let dir: string;
  let db: MetadataDB;
  let local: LocalContentStore;
  let cs: ContentMetadataStore;
  const leased: string[] = [];

  const put = async (
    ns: string,
    data: string,
    opts: { labels?: Record<string, string>; lease?: string; ref?: string } = {},
  ) => {
    const w = await cs.writer(ns, opts.ref ?? `ref-${data}`, { lease: opts.lease });
    await w.write(Buffer.from(data));
    return w.commit(data.length, digestOf(data), opts.labels);
  };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-cmeta-'));
    db = await MetadataDB.open(path.join(dir, 'meta'));
    local = await LocalContentStore.open(path.join(dir, 'content'));
    leased.length = 0;
    const hooks: ContentLeaseHooks = {
      onCommit: (ns, lease, dgst, tx) => {
        leased.push(`${ns}/${lease}/${dgst}`);
        tx.put(resourceKey(ns, 'leases', `${lease}/content/${dgst}`), '{}');
      },
      onIngest: (ns, lease, ref) => void leased.push(`${ns}/${lease}/ingest/${ref}`),
    };
    cs = new ContentMetadataStore(db, local, hooks);
  });
  afterEach(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('leases an ingest before its file exists, so a crash between never leaves it unprotected', async () => {
    const opened = local.writer.bind(local);
    let leasedFirst: boolean | undefined;
    local.writer = (...args: Parameters<typeof opened>) => {
      // A daemon killed right here must already have the ingest in its lease.
      leasedFirst = leased.includes('a/l1/ingest/r1');
      return opened(...args);
    };
    const w = await cs.writer('a', 'r1', { lease: 'l1' });
    await w.close();
    expect(leasedFirst).toBe(true);
  });

  it('records committed content per namespace with labels and times', async () => {
    const info = await put('a', 'one', { labels: { x: '1', empty: '' } });
    expect(info).toMatchObject({ digest: digestOf('one'), size: 3, labels: { x: '1' } });
    expect(await cs.info('a', digestOf('one'))).toEqual(info);
    expect(await code(cs.info('b', digestOf('one')))).toBe('NotFound');
    expect(await code(cs.readerAt('b', digestOf('one')))).toBe('NotFound');
    const chunks: Buffer[] = [];
    for await (const c of cs.read('a', digestOf('one'))) chunks.push(c.data);
    expect(Buffer.concat(chunks).toString()).toBe('one');
  });

  it('links a blob another namespace has after verifying the upload', async () => {
    await put('a', 'shared');
    const file = local.blobPath(digestOf('shared'));
    const inode = (await import('node:fs')).statSync(file).ino;
    // A wrong upload of the same digest is refused and links nothing.
    const bad = await cs.writer('b', 'bad');
    await bad.write(Buffer.from('shaRed'));
    expect(await code(bad.commit(6, digestOf('shared')))).toBe('FailedPrecondition');
    expect(await code(cs.info('b', digestOf('shared')))).toBe('NotFound');

    const linked = await put('b', 'shared', { ref: 'good' });
    expect(linked.size).toBe(6);
    expect((await import('node:fs')).statSync(file).ino).toBe(inode);
    // Committing again in the same namespace is AlreadyExists, at open and at commit.
    expect(await code(cs.writer('b', 'again', { expected: digestOf('shared') }))).toBe(
      'AlreadyExists',
    );
    const w = await cs.writer('b', 'again2');
    await w.write(Buffer.from('shared'));
    expect(await code(w.commit())).toBe('AlreadyExists');
    expect(await cs.listStatuses('b')).toEqual([
      expect.objectContaining({ ref: 'bad', offset: 6 }),
    ]);
  });

  it('deletes the record, and the blob only with the last reference', async () => {
    await put('a', 'blob');
    await put('b', 'blob');
    const file = local.blobPath(digestOf('blob'));
    await cs.delete('a', digestOf('blob'));
    expect(await code(cs.info('a', digestOf('blob')))).toBe('NotFound');
    expect(existsSync(file)).toBe(true);
    expect(await code(cs.delete('a', digestOf('blob')))).toBe('NotFound');
    expect([...(await cs.referencedDigests())]).toEqual([digestOf('blob')]);
    expect(await code(cs.deleteBlob(digestOf('blob')))).toBe('FailedPrecondition');
    await cs.delete('b', digestOf('blob'));
    expect(existsSync(file)).toBe(false);
    expect((await cs.referencedDigests()).size).toBe(0);
  });

  it('deleteBlob removes an unreferenced blob file', async () => {
    const w = await local.writer('orphan');
    await w.write(Buffer.from('orphan'));
    const dgst = await w.commit();
    await cs.deleteBlob(dgst);
    expect(await code(local.info(dgst))).toBe('NotFound');
  });

  it('updates labels with field masks', async () => {
    const d = digestOf('lbl');
    await put('a', 'lbl', { labels: { a: '1', b: '2' } });
    expect(
      (await cs.update('a', { digest: d, labels: { b: '3', c: '4' } }, ['labels.b'])).labels,
    ).toEqual({
      a: '1',
      b: '3',
    });
    expect((await cs.update('a', { digest: d, labels: {} }, ['labels.a'])).labels).toEqual({
      b: '3',
    });
    expect((await cs.update('a', { digest: d, labels: { z: '9' } }, ['labels'])).labels).toEqual({
      z: '9',
    });
    expect((await cs.update('a', { digest: d, labels: { y: '8' } })).labels).toEqual({ y: '8' });
    expect(await code(cs.update('a', { digest: d }, ['size']))).toBe('InvalidArgument');
    expect(await code(cs.update('b', { digest: d }, ['labels']))).toBe('NotFound');
    const info = await cs.info('a', d);
    expect(info.updatedAt.getTime()).toBeGreaterThanOrEqual(info.createdAt.getTime());
  });

  it('lists with containerd filters', async () => {
    await put('a', 'first', { labels: { kind: 'layer' } });
    await put('a', 'second!', { labels: { kind: 'config' } });
    await put('b', 'third');
    const ls = async (...f: string[]) => (await cs.list('a', f)).map((c) => c.size).sort();
    expect(await ls()).toEqual([5, 7]);
    expect(await ls(`digest==${digestOf('first')}`)).toEqual([5]);
    expect(await ls('size==7')).toEqual([7]);
    expect(await ls('labels.kind==layer')).toEqual([5]);
    expect(await ls('labels.kind==layer', 'labels.kind==config')).toEqual([5, 7]);
    expect(await ls('labels.missing')).toEqual([]);
    expect(await code(cs.list('a', ['labels.kind~=(']))).toBe('InvalidArgument');
  });

  it('keeps ingests per namespace', async () => {
    await (await cs.writer('a', 'same-ref')).close();
    const wb = await cs.writer('b', 'same-ref');
    await wb.write(Buffer.from('bb'));
    await wb.close();
    expect((await cs.status('a', 'same-ref')).offset).toBe(0);
    expect(await cs.status('b', 'same-ref')).toMatchObject({ ref: 'same-ref', offset: 2 });
    expect((await cs.listStatuses('a')).map((s) => s.ref)).toEqual(['same-ref']);
    expect(await cs.listStatuses('b', ['ref==other'])).toEqual([]);
    await cs.abort('a', 'same-ref');
    expect(await code(cs.status('a', 'same-ref'))).toBe('NotFound');
    expect(await code(cs.abort('a', 'same-ref'))).toBe('NotFound');
    expect((await cs.status('b', 'same-ref')).offset).toBe(2);
    // The same ref in two namespaces is two locks.
    const w1 = await cs.writer('a', 'lock');
    const w2 = await cs.writer('b', 'lock');
    expect(await code(cs.writer('a', 'lock'))).toBe('Unavailable');
    await w1.close();
    await w2.close();
  });

  it('calls the lease hooks inside the recording transaction', async () => {
    await put('a', 'leased', { lease: 'l1', ref: 'r' });
    await put('a', 'free');
    expect(leased).toEqual([`a/l1/ingest/r`, `a/l1/${digestOf('leased')}`]);
    expect(
      await db.view((tx) => tx.has(resourceKey('a', 'leases', `l1/content/${digestOf('leased')}`))),
    ).toBe(true);

    const failing = new ContentMetadataStore(db, local, {
      onCommit: () => {
        throw new Error('lease l2 not found');
      },
    });
    const w = await failing.writer('a', 'x', { lease: 'l2' });
    await w.write(Buffer.from('nolease'));
    await expect(w.commit()).rejects.toThrow(/lease l2 not found/);
    expect(await code(cs.info('a', digestOf('nolease')))).toBe('NotFound');
  });

  it('validates namespaces, digests and labels', async () => {
    expect(await code(cs.info('../x', digestOf('a')))).toBe('InvalidArgument');
    expect(await code(cs.info('a', 'sha256:abc'))).toBe('InvalidArgument');
    expect(await code(cs.writer('a', ''))).toBe('InvalidArgument');
    const w = await cs.writer('a', 'bad-labels');
    await w.write(Buffer.from('x'));
    expect(await code(w.commit(0, '', { '': 'v' }))).toBe('InvalidArgument');
    // the failed commit released the ref
    await (await cs.writer('a', 'bad-labels')).close();
  });

  it('serialises a delete against a concurrent link of the same blob', async () => {
    await put('a', 'race');
    const w = await cs.writer('b', 'race-b');
    await w.write(Buffer.from('race'));
    await Promise.all([cs.delete('a', digestOf('race')), w.commit()]);
    // Whatever the order, b's record must point at an existing blob.
    const info = await cs.info('b', digestOf('race'));
    expect(existsSync(local.blobPath(info.digest))).toBe(true);
  });
});
