import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../core/errors/catalogue.js';
import { Kind } from '../../core/snapshots/types.js';
import { MetaStore } from './metastore.js';

let dir: string;
let store: MetaStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'berth-snapdb-'));
  store = await MetaStore.open(path.join(dir, 'metadata.db'));
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

const expectCode = (p: Promise<unknown>, code: ErrorCode) =>
  expect(p).rejects.toMatchObject({ name: 'BerthError', code });

const usage = { size: 4096, inodes: 2 };

/** Active `name-a` on parent, committed as `name`. */
async function committed(name: string, parent = ''): Promise<string> {
  return store.update(async (tx) => {
    await tx.createSnapshot(Kind.Active, `${name}-a`, parent);
    return tx.commitActive(`${name}-a`, name, usage);
  });
}

describe('MetaStore', () => {
  it('hands out increasing ids and parent id chains, nearest first', async () => {
    const id1 = await committed('l1');
    const id2 = await committed('l2', 'l1');
    const s = await store.update((tx) => tx.createSnapshot(Kind.Active, 'top', 'l2'));
    expect(Number(id2)).toBeGreaterThan(Number(id1));
    expect(s.parentIds).toEqual([id2, id1]);
    expect(await store.view((tx) => tx.getSnapshot('top'))).toEqual(s);
  });

  it('keeps the id through commit and records the usage', async () => {
    const a = await store.update((tx) => tx.createSnapshot(Kind.Active, 'a', '', { x: '1' }));
    await store.update((tx) => tx.commitActive('a', 'c', usage, { y: '2' }));
    const rec = await store.view((tx) => tx.getRecordedUsage('c'));
    expect(rec).toEqual({ id: a.id, kind: Kind.Committed, usage });
    expect((await store.view((tx) => tx.getInfo('c'))).labels).toEqual({ y: '2' });
    await expectCode(
      store.view((tx) => tx.getInfo('a')),
      'NotFound',
    );
  });

  it('moves the parent index entry from key to name at commit', async () => {
    await committed('base');
    await store.update(async (tx) => {
      await tx.createSnapshot(Kind.Active, 'k', 'base');
      await tx.commitActive('k', 'n', usage);
    });
    await expectCode(
      store.update((tx) => tx.remove('base')),
      'FailedPrecondition',
    );
    await store.update((tx) => tx.remove('n'));
    await store.update((tx) => tx.remove('base'));
  });

  it('refuses bad parents, duplicate keys and kinds with containerd codes', async () => {
    await store.update((tx) => tx.createSnapshot(Kind.Active, 'act', ''));
    await expectCode(
      store.update((tx) => tx.createSnapshot(Kind.Active, 'x', 'act')),
      'InvalidArgument',
    );
    await expectCode(
      store.update((tx) => tx.createSnapshot(Kind.Active, 'x', 'nope')),
      'NotFound',
    );
    await expectCode(
      store.update((tx) => tx.createSnapshot(Kind.Active, 'act', '')),
      'AlreadyExists',
    );
    await expectCode(
      store.update((tx) => tx.createSnapshot(Kind.Committed, 'y', '')),
      'InvalidArgument',
    );
    await expectCode(
      store.update((tx) => tx.createSnapshot(Kind.Active, 'bad\0key', '')),
      'InvalidArgument',
    );
    await store.update((tx) => tx.createSnapshot(Kind.View, 'v', ''));
    await expectCode(
      store.update((tx) => tx.commitActive('v', 'c', usage)),
      'FailedPrecondition',
    );
  });

  it('writes nothing when the transaction function throws', async () => {
    await expect(
      store.update(async (tx) => {
        await tx.createSnapshot(Kind.Active, 'lost', '');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await store.view((tx) => tx.list())).toEqual([]);
    // The id was not consumed either.
    const s = await store.update((tx) => tx.createSnapshot(Kind.Active, 'kept', ''));
    expect(s.id).toBe('1');
  });

  it('updates labels by field mask and rejects other fields', async () => {
    await store.update((tx) => tx.createSnapshot(Kind.Active, 'a', '', { a: '1', b: '2' }));
    const info = await store.update((tx) =>
      tx.updateInfo({ name: 'a', labels: { b: '', c: '3' } }, ['labels.b', 'labels.c']),
    );
    expect(info.labels).toEqual({ a: '1', c: '3' });
    await expectCode(
      store.update((tx) => tx.updateInfo({ name: 'a' }, ['kind'])),
      'InvalidArgument',
    );
  });

  it('lists keys with any characters, including slashes and spaces', async () => {
    const keys = ['default/1/extract-1 sha256:abc', 'ns/2/ctr', 'ünïcode'];
    for (const k of keys) await store.update((tx) => tx.createSnapshot(Kind.Active, k, ''));
    const names = (await store.view((tx) => tx.list())).map((e) => e.info.name);
    expect(names.sort()).toEqual([...keys].sort());
    expect(await store.view((tx) => tx.ids())).toEqual(new Set(['1', '2', '3']));
  });

  it('persists across reopen', async () => {
    await committed('base');
    await store.close();
    store = await MetaStore.open(path.join(dir, 'metadata.db'));
    expect((await store.view((tx) => tx.getInfo('base'))).kind).toBe(Kind.Committed);
  });

  it('refuses a second open of the same database', async () => {
    await expectCode(MetaStore.open(path.join(dir, 'metadata.db')), 'Unavailable');
  });
});
