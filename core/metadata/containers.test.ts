import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/catalogue.js';
import type { NewContainer } from './containers.js';
import { MetadataDB } from './db.js';
import { namespaceLock } from './namespaces.js';

let dir: string;
let db: MetadataDB;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-meta-ctr-'));
  db = await MetadataDB.open(dir);
});
afterEach(async () => {
  await db.close();
  await rm(dir, { recursive: true, force: true });
});

const bytes = (s: string) => new TextEncoder().encode(s);
const SPEC_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';

function sample(id: string, extra: Partial<NewContainer> = {}): NewContainer {
  return {
    id,
    labels: { app: 'web' },
    image: 'docker.io/library/busybox:latest',
    runtime: {
      name: 'io.containerd.runc.v2',
      options: { typeUrl: 'runc.v1.Options', value: bytes('\x08\x01') },
    },
    spec: { typeUrl: SPEC_URL, value: bytes('{"ociVersion":"1.1.0"}') },
    snapshotter: 'overlayfs',
    snapshotKey: id,
    extensions: { note: { typeUrl: 'x.test/Note', value: new Uint8Array([0, 255, 7]) } },
    ...extra,
  };
}

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (isBerthError(err)) return err.code;
    throw err;
  }
}

describe('containers', () => {
  it('round-trips every field, including binary Any values', async () => {
    const created = await db.containers.create('default', sample('web-1', { sandboxId: 'pod-1' }));
    expect(created.createdAt).toBeInstanceOf(Date);
    expect(created.updatedAt.getTime()).toBe(created.createdAt.getTime());
    const got = await db.containers.get('default', 'web-1');
    expect(got).toEqual(created);
    expect(got).toMatchObject({
      id: 'web-1',
      labels: { app: 'web' },
      image: 'docker.io/library/busybox:latest',
      runtime: {
        name: 'io.containerd.runc.v2',
        options: { typeUrl: 'runc.v1.Options', value: bytes('\x08\x01') },
      },
      spec: { typeUrl: SPEC_URL },
      snapshotter: 'overlayfs',
      snapshotKey: 'web-1',
      sandboxId: 'pod-1',
    });
    expect(got.extensions.note!.value).toEqual(new Uint8Array([0, 255, 7]));
    expect(new TextDecoder().decode(got.spec!.value)).toBe('{"ociVersion":"1.1.0"}');
  });

  it('defaults optional fields and creates the namespace implicitly', async () => {
    const c = await db.containers.create('fresh', {
      id: 'c',
      runtime: { name: 'rt' },
      spec: sample('x').spec,
    });
    expect(c).toMatchObject({
      labels: {},
      image: '',
      snapshotter: '',
      snapshotKey: '',
      extensions: {},
    });
    expect(c.sandboxId).toBeUndefined();
    expect(c.runtime.options).toBeUndefined();
    expect(await db.namespaces.get('fresh')).toEqual({ name: 'fresh', labels: {} });
  });

  it('lists per namespace with an optional filter', async () => {
    await db.containers.create('a', sample('one'));
    await db.containers.create('a', sample('two', { labels: { app: 'db' } }));
    await db.containers.create('b', sample('three'));
    expect((await db.containers.list('a')).map((c) => c.id)).toEqual(['one', 'two']);
    expect((await db.containers.list('a', (c) => c.labels.app === 'db')).map((c) => c.id)).toEqual([
      'two',
    ]);
    expect(await db.containers.list('empty')).toEqual([]);
  });

  it('validates like containerd', async () => {
    await expect(
      db.containers.create('default', sample('x', { runtime: { name: '' } })),
    ).rejects.toThrow(
      'create container failed validation: container.Runtime.Name must be set: invalid argument',
    );
    expect(await code(db.containers.create('default', sample('bad id')))).toBe('InvalidArgument');
    expect(await code(db.containers.create('default', sample('x', { spec: undefined })))).toBe(
      'InvalidArgument',
    );
    expect(await code(db.containers.create('default', sample('x', { snapshotter: '' })))).toBe(
      'InvalidArgument',
    );
    expect(
      await code(db.containers.create('default', sample('x', { labels: { k: 'v'.repeat(4096) } }))),
    ).toBe('InvalidArgument');
    const ext = sample('x').extensions!.note!;
    expect(
      await code(db.containers.create('default', sample('x', { extensions: { '': ext } }))),
    ).toBe('InvalidArgument');
    expect(await code(db.containers.create('bad/ns', sample('x')))).toBe('InvalidArgument');
    expect(await db.containers.list('default')).toEqual([]);
  });

  it('NotFound for get, update and delete of a missing container', async () => {
    await expect(db.containers.get('default', 'ghost')).rejects.toThrow(
      'container "ghost" in namespace "default": not found',
    );
    expect(
      await code(db.containers.update('default', { id: 'ghost', labels: {} }, ['labels'])),
    ).toBe('NotFound');
    expect(await code(db.containers.delete('default', 'ghost'))).toBe('NotFound');
    await db.containers.create('default', sample('real'));
    await db.containers.delete('default', 'real');
    expect(await code(db.containers.get('default', 'real'))).toBe('NotFound');
    // Same id in another namespace is a different container.
    await db.containers.create('other', sample('real'));
    expect(await code(db.containers.get('default', 'real'))).toBe('NotFound');
  });

  it("deletes inside the caller's transaction, committing with its other writes or not at all", async () => {
    await db.containers.create('default', sample('a'));
    await db.containers.create('default', sample('b'));
    const gone = await db.update([namespaceLock('default')], async (tx) => {
      tx.put('v1/test/other', 'x');
      return [
        await db.containers.deleteIn(tx, 'default', 'a'),
        await db.containers.deleteIn(tx, 'default', 'ghost'),
      ];
    });
    expect(gone).toEqual([true, false]);
    expect(await code(db.containers.get('default', 'a'))).toBe('NotFound');
    expect(await db.view((tx) => tx.get('v1/test/other'))).toBe('x');

    const failed = db.update([namespaceLock('default')], async (tx) => {
      await db.containers.deleteIn(tx, 'default', 'b');
      throw new Error('the other write failed');
    });
    await expect(failed).rejects.toThrow('the other write failed');
    expect((await db.containers.get('default', 'b')).id).toBe('b');
  });

  it('gives exactly one success among 50 concurrent creates of one id', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        db.containers.create('race', sample('same', { image: `img-${i}` })),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(49);
    for (const f of failed) expect(isBerthError(f.reason, 'AlreadyExists')).toBe(true);
    const stored = await db.containers.get('race', 'same');
    expect(stored.image).toBe((ok[0] as PromiseFulfilledResult<{ image: string }>).value.image);
  });

  describe('update field masks', () => {
    beforeEach(async () => {
      await db.containers.create('default', sample('c', { labels: { a: '1', b: '2' } }));
    });

    it('sets and removes single labels and extensions', async () => {
      const ext = { typeUrl: 'x.test/New', value: bytes('new') };
      const u = await db.containers.update(
        'default',
        { id: 'c', labels: { a: 'changed', ignored: 'x' }, extensions: { added: ext } },
        ['labels.a', 'labels.b', 'extensions.added', 'extensions.note'],
      );
      expect(u.labels).toEqual({ a: 'changed' });
      expect(Object.keys(u.extensions)).toEqual(['added']);
      expect(u.extensions.added!.value).toEqual(bytes('new'));
      expect(await db.containers.get('default', 'c')).toEqual(u);
    });

    it('replaces whole fields named by the mask and leaves the rest', async () => {
      const before = await db.containers.get('default', 'c');
      await new Promise((r) => setTimeout(r, 5));
      const u = await db.containers.update(
        'default',
        { id: 'c', image: 'other:tag', labels: { only: 'this' } },
        ['image', 'labels'],
      );
      expect(u.image).toBe('other:tag');
      expect(u.labels).toEqual({ only: 'this' });
      expect(u.spec).toEqual(before.spec);
      expect(u.snapshotKey).toBe(before.snapshotKey);
      expect(u.createdAt).toEqual(before.createdAt);
      expect(u.updatedAt.getTime()).toBeGreaterThan(before.updatedAt.getTime());
      const s = await db.containers.update('default', { id: 'c', snapshotKey: 'k2' }, [
        'snapshotkey',
      ]);
      expect(s.snapshotKey).toBe('k2');
    });

    it('rejects immutable and unknown paths', async () => {
      const before = await db.containers.get('default', 'c');
      for (const path of ['runtime', 'snapshotter', 'id', 'sandboxid', 'createdat']) {
        await expect(
          db.containers.update(
            'default',
            { id: 'c', runtime: { name: 'other' }, snapshotter: 'native' },
            [path],
          ),
        ).rejects.toThrow(`cannot update "${path}" field on "c": invalid argument`);
      }
      expect(await db.containers.get('default', 'c')).toEqual(before);
    });

    it('with no paths, updates every mutable field but refuses runtime or snapshotter changes', async () => {
      const current = await db.containers.get('default', 'c');
      await expect(
        db.containers.update('default', { ...current, runtime: { name: 'io.other.v1' } }),
      ).rejects.toThrow('container.Runtime.Name field is immutable: invalid argument');
      await expect(
        db.containers.update('default', { ...current, snapshotter: 'native' }),
      ).rejects.toThrow('container.Snapshotter field is immutable: invalid argument');
      const u = await db.containers.update('default', {
        ...current,
        labels: { z: '26' },
        image: 'new:img',
        extensions: {},
        snapshotKey: 'sk',
        sandboxId: 'ignored-not-mutable',
      });
      expect(u).toMatchObject({
        labels: { z: '26' },
        image: 'new:img',
        extensions: {},
        snapshotKey: 'sk',
      });
      expect(u.sandboxId).toBeUndefined();
      expect(u.runtime).toEqual(current.runtime);
    });

    it('validates the result: a spec cannot be removed', async () => {
      await expect(db.containers.update('default', { id: 'c' }, ['spec'])).rejects.toThrow(
        'update failed validation: container.Spec must be set: invalid argument',
      );
      expect(
        await code(db.containers.update('default', { id: 'c', labels: { '': 'x' } }, ['labels'])),
      ).toBe('InvalidArgument');
    });
  });
});
