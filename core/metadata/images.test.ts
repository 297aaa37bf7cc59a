import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/catalogue.js';
import { eventToJSON } from '../events/types.js';
import type { Any } from '../../api/gen/google/protobuf/any.js';
import { MetadataDB } from './db.js';
import type { CallContext } from '../../plugins/server/context.js';
import { ImagesLocal } from '../../plugins/images/service.js';
import { ImageStore, type NewImage } from './images.js';

let dir: string;
let db: MetadataDB;
let collected: number;
let store: ImageStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-images-'));
  db = await MetadataDB.open(dir);
  collected = 0;
  store = new ImageStore(db, {
    collect: async () => {
      collected++;
    },
  });
});
afterEach(async () => {
  await db.close();
  await rm(dir, { recursive: true, force: true });
});

const D1 = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'b'.repeat(64)}`;
const INDEX = 'application/vnd.oci.image.index.v1+json';
const MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

function sample(name: string, extra: Partial<NewImage> = {}): NewImage {
  return {
    name,
    labels: { team: 'a' },
    target: { mediaType: INDEX, digest: D1, size: 1234, annotations: { 'org.x': 'y' } },
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

describe('image store', () => {
  it('round-trips names holding / : @ and the whole target', async () => {
    const name = `docker.io/library/busybox:1.36@${D1}`;
    const created = await store.create('default', sample(name));
    expect(created.createdAt.getTime()).toBe(created.updatedAt.getTime());
    const got = await store.get('default', name);
    expect(got).toEqual(created);
    expect(got.target).toEqual({
      mediaType: INDEX,
      digest: D1,
      size: 1234,
      annotations: { 'org.x': 'y' },
    });
    // The name is one key segment: no stray records, and the namespace exists.
    expect((await store.list('default')).map((i) => i.name)).toEqual([name]);
    expect((await db.namespaces.list()).map((n) => n.name)).toEqual(['default']);
  });

  it('keeps namespaces apart and lists in name byte order', async () => {
    await store.create('default', sample('b.io/x:1'));
    await store.create('default', sample('a.io/x:1'));
    await store.create('default', sample('a.io/x/y:1'));
    await store.create('other', sample('z:1'));
    expect((await store.list('default')).map((i) => i.name)).toEqual([
      'a.io/x/y:1',
      'a.io/x:1',
      'b.io/x:1',
    ]);
    expect((await store.list('other')).map((i) => i.name)).toEqual(['z:1']);
    expect(await code(store.get('other', 'a.io/x:1'))).toBe('NotFound');
  });

  it('rejects duplicates and unknown names', async () => {
    await store.create('default', sample('x:1'));
    expect(await code(store.create('default', sample('x:1')))).toBe('AlreadyExists');
    expect(await code(store.get('default', 'y:1'))).toBe('NotFound');
    expect(await code(store.delete('default', 'y:1'))).toBe('NotFound');
  });

  it('validates names, labels and the target like containerd', async () => {
    const bad: [string, NewImage][] = [
      ['empty name', sample('')],
      ['space in name', sample('a b')],
      ['newline in name', sample('a\nb')],
      ['long name', sample('x'.repeat(1025))],
      ['lone surrogate', sample('a\ud800')],
      [
        'short digest',
        sample('x', { target: { mediaType: INDEX, digest: 'sha256:abc', size: 1 } }),
      ],
      [
        'upper hex',
        sample('x', { target: { mediaType: INDEX, digest: D1.toUpperCase(), size: 1 } }),
      ],
      [
        'md5',
        sample('x', { target: { mediaType: INDEX, digest: `md5:${'a'.repeat(32)}`, size: 1 } }),
      ],
      ['zero size', sample('x', { target: { mediaType: INDEX, digest: D1, size: 0 } })],
      ['fractional size', sample('x', { target: { mediaType: INDEX, digest: D1, size: 1.5 } })],
      ['no media type', sample('x', { target: { mediaType: '', digest: D1, size: 1 } })],
      ['huge label', sample('x', { labels: { k: 'v'.repeat(5000) } })],
    ];
    for (const [what, image] of bad) {
      expect(await code(store.create('default', image)), what).toBe('InvalidArgument');
    }
    expect(await code(store.create('../etc', sample('x')))).toBe('InvalidArgument');
    expect(await store.list('default')).toEqual([]);
  });

  it('updates with field masks', async () => {
    const created = await store.create(
      'default',
      sample('x:1', { labels: { keep: '1', drop: '2' } }),
    );
    // labels.<k>: set one, remove one (empty value), leave the rest.
    let u = await store.update('default', { ...sample('x:1'), labels: { add: '3', drop: '' } }, [
      'labels.add',
      'labels.drop',
    ]);
    expect(u.labels).toEqual({ keep: '1', add: '3' });
    expect(u.target.digest).toBe(D1);
    expect(u.createdAt).toEqual(created.createdAt);
    expect(u.updatedAt.getTime()).toBeGreaterThanOrEqual(created.updatedAt.getTime());

    // labels: replace all.
    u = await store.update('default', { ...sample('x:1'), labels: { only: 'me' } }, ['labels']);
    expect(u.labels).toEqual({ only: 'me' });

    // target: replaced as a unit; labels untouched.
    const target = { mediaType: MANIFEST, digest: D2, size: 99, annotations: { a: '1' } };
    u = await store.update('default', { name: 'x:1', labels: {}, target }, ['target']);
    expect(u.target).toEqual(target);
    expect(u.labels).toEqual({ only: 'me' });

    // annotations.<k> and annotations act on the target's annotations only.
    u = await store.update(
      'default',
      { name: 'x:1', target: { ...target, digest: D1, annotations: { b: '2' } } },
      ['annotations.b'],
    );
    expect(u.target).toEqual({ ...target, annotations: { a: '1', b: '2' } });
    u = await store.update(
      'default',
      { name: 'x:1', target: { ...target, annotations: { c: '3' } } },
      ['annotations'],
    );
    expect(u.target.annotations).toEqual({ c: '3' });

    // No mask: full replacement of labels and target.
    u = await store.update('default', sample('x:1', { labels: { full: 'yes' } }));
    expect(u.labels).toEqual({ full: 'yes' });
    expect(u.target).toEqual({
      mediaType: INDEX,
      digest: D1,
      size: 1234,
      annotations: { 'org.x': 'y' },
    });
    expect(await store.get('default', 'x:1')).toEqual(u);
  });

  it('rejects bad updates without changing the record', async () => {
    const created = await store.create('default', sample('x:1'));
    expect(await code(store.update('default', sample('x:1'), ['name']))).toBe('InvalidArgument');
    expect(await code(store.update('default', sample('x:1'), ['createdat']))).toBe(
      'InvalidArgument',
    );
    expect(
      await code(
        store.update(
          'default',
          sample('x:1', { target: { mediaType: INDEX, digest: 'nope', size: 1 } }),
          ['target'],
        ),
      ),
    ).toBe('InvalidArgument');
    expect(await code(store.update('default', sample('y:1'), ['labels']))).toBe('NotFound');
    expect(await code(store.update('default', sample(''), ['labels']))).toBe('InvalidArgument');
    expect(await store.get('default', 'x:1')).toEqual(created);
  });

  it('delete runs the collector only when asked to sync', async () => {
    await store.create('default', sample('x:1'));
    await store.create('default', sample('x:2'));
    await store.delete('default', 'x:1');
    expect(collected).toBe(0);
    await store.delete('default', 'x:2', { sync: true });
    expect(collected).toBe(1);
    expect(await store.list('default')).toEqual([]);
  });
});

describe('images service', () => {
  const ctx = (namespace = 'default'): CallContext => ({
    namespace,
    signal: new AbortController().signal,
  });
  let events: { namespace: string; topic: string; event: unknown }[];
  let svc: ImagesLocal;
  beforeEach(() => {
    events = [];
    svc = new ImagesLocal(store, {
      publish: (namespace: string, topic: string, event: Any) =>
        events.push({
          namespace,
          topic,
          event: { typeUrl: event.typeUrl, ...(eventToJSON(event) as object) },
        }),
    });
  });

  const pb = (
    name: string,
    digest = D1,
    mediaType = INDEX,
    labels: Record<string, string> = {},
  ) => ({
    name,
    labels,
    target: { mediaType, digest, size: 10, annotations: {} },
    createdAt: undefined,
    updatedAt: undefined,
  });

  it('filters by name, name regexp, labels, target digest and media type', async () => {
    await svc.create({ image: pb('docker.io/library/busybox:1', D1, INDEX, { app: 'bb' }) }, ctx());
    await svc.create(
      { image: pb('docker.io/library/alpine:3', D2, MANIFEST, { app: 'al', x: '1' }) },
      ctx(),
    );
    await svc.create({ image: pb('ghcr.io/org/tool:v1', D2, INDEX) }, ctx());
    const names = async (...filters: string[]) =>
      (await svc.list({ filters }, ctx())).images.map((i) => i.name);

    expect(await names()).toHaveLength(3);
    expect(await names('name==docker.io/library/alpine:3')).toEqual(['docker.io/library/alpine:3']);
    expect(await names('name~=^docker\\.io/')).toEqual([
      'docker.io/library/alpine:3',
      'docker.io/library/busybox:1',
    ]);
    expect(await names('labels.app==bb')).toEqual(['docker.io/library/busybox:1']);
    expect(await names('labels.x')).toEqual(['docker.io/library/alpine:3']);
    expect(await names(`target.digest==${D2}`)).toEqual([
      'docker.io/library/alpine:3',
      'ghcr.io/org/tool:v1',
    ]);
    expect(await names(`target.mediatype==${MANIFEST}`)).toEqual(['docker.io/library/alpine:3']);
    // A list of filters is an OR; commas inside one are an AND.
    expect(await names('labels.app==bb', 'name~=ghcr')).toEqual([
      'docker.io/library/busybox:1',
      'ghcr.io/org/tool:v1',
    ]);
    expect(await names(`target.digest==${D2},labels.app==al`)).toEqual([
      'docker.io/library/alpine:3',
    ]);
    expect(await names('size==10')).toEqual([]);
    expect(await code(svc.list({ filters: ['name~=('] }, ctx()))).toBe('InvalidArgument');
  });

  it('publishes /images/create, /images/update and /images/delete', async () => {
    const created = await svc.create({ image: pb('x:1', D1, INDEX, { a: '1' }) }, ctx('ns1'));
    expect(created.image?.createdAt?.seconds).toBeGreaterThan(0);
    await svc.update(
      { image: { ...pb('x:1'), labels: { b: '2' } }, updateMask: ['labels.b'] },
      ctx('ns1'),
    );
    await svc.delete({ name: 'x:1', sync: false }, ctx('ns1'));
    expect(events).toEqual([
      {
        namespace: 'ns1',
        topic: '/images/create',
        event: {
          typeUrl: 'containerd.services.images.v1.ImageCreate',
          name: 'x:1',
          labels: { a: '1' },
        },
      },
      {
        namespace: 'ns1',
        topic: '/images/update',
        event: {
          typeUrl: 'containerd.services.images.v1.ImageUpdate',
          name: 'x:1',
          labels: { a: '1', b: '2' },
        },
      },
      {
        namespace: 'ns1',
        topic: '/images/delete',
        event: { typeUrl: 'containerd.services.images.v1.ImageDelete', name: 'x:1' },
      },
    ]);
  });

  it('publishes nothing for a failed call', async () => {
    expect(await code(svc.create({ image: undefined }, ctx()))).toBe('InvalidArgument');
    expect(await code(svc.delete({ name: 'nope:1', sync: true }, ctx()))).toBe('NotFound');
    expect(collected).toBe(0);
    expect(events).toEqual([]);
  });
});
