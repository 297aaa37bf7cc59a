import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ImageCreate, ImageDelete, ImageUpdate } from '../../api/gen/containerd/events/image.js';
import { errNotFound } from '../../core/errors/catalogue.js';
import { Exchange } from '../../core/events/exchange.js';
import { MediaType } from '../../core/images/oci/media-types.js';
import { onlyPlatform } from '../../core/images/oci/platform.js';
import type { Descriptor } from '../../core/images/oci/types.js';
import { packAny } from '../../core/protobuf/typeurl.js';
import { CriImageIndex, type IndexedRecord, PINNED_LABEL } from './image-index.js';

const NS = 'k8s.io';
const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const quiet = { warn: () => undefined, debug: () => undefined };

function world(bufferSize = 64) {
  const blobs = new Map<string, Buffer>();
  const records = new Map<string, IndexedRecord>();
  /** Called with each name the index reads, before it answers. */
  let onGet: (name: string) => void = () => undefined;
  const put = (mediaType: string, doc: object, store = true): Descriptor => {
    const b = Buffer.from(JSON.stringify(doc));
    const d = { mediaType, digest: digestOf(b), size: b.length };
    if (store) blobs.set(d.digest, b);
    return d;
  };
  /** An image of one layer; the layer blob itself is never read by the index. */
  const image = (layer: string, user = '', store = true) => {
    const diffId = digestOf(Buffer.from(layer));
    const config = put(
      MediaType.OCIConfig,
      {
        architecture: 'amd64',
        os: 'linux',
        config: { User: user, Env: ['A=1'] },
        rootfs: { type: 'layers', diff_ids: [diffId] },
      },
      store,
    );
    const manifest = put(MediaType.OCIManifest, {
      schemaVersion: 2,
      config,
      layers: [{ mediaType: MediaType.OCILayerGzip, digest: diffId, size: 100 }],
    });
    return { config, manifest, diffId };
  };
  const exchange = new Exchange({ bufferSize });
  const publish = (topic: string, name: string, ns = NS) => {
    const [type, fns] =
      topic === '/images/delete'
        ? (['ImageDelete', ImageDelete] as const)
        : topic === '/images/update'
          ? (['ImageUpdate', ImageUpdate] as const)
          : (['ImageCreate', ImageCreate] as const);
    exchange.publish(
      ns,
      topic,
      packAny(`containerd.services.images.v1.${type}`, fns as typeof ImageCreate, {
        name,
        labels: {},
      }),
    );
  };
  const index = new CriImageIndex({
    get: async (name) => {
      onGet(name);
      const r = records.get(name);
      if (!r) throw errNotFound(`image ${name}`);
      return r;
    },
    names: async () => [...records.keys()],
    content: {
      readBlob: async (d) => {
        const b = blobs.get(d);
        if (!b) throw errNotFound(`content ${d}`);
        return b;
      },
    },
    platform: onlyPlatform({ os: 'linux', architecture: 'amd64' }),
    log: quiet,
  });
  /** Resolves when the index next reads the record `name`. */
  const read = (name: string) =>
    new Promise<void>((resolve) => {
      const prev = onGet;
      onGet = (n) => {
        if (n === name) {
          onGet = prev;
          resolve();
        } else prev(n);
      };
    });
  let sentinel = 0;
  /** Resolves once the index has handled every event published before (it handles them in order). */
  const processed = () => {
    const name = `sentinel-${++sentinel}`;
    const seen = read(name);
    publish('/images/create', name);
    return seen;
  };
  const record = (name: string, target: Descriptor, labels: Record<string, string> = {}) =>
    records.set(name, { name, target, labels });
  return { blobs, records, image, exchange, publish, index, processed, record };
}

describe('CriImageIndex', () => {
  let closing: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await closing?.();
    closing = undefined;
  });

  it('loads the records at start, grouped by image, with what the CRI reports', async () => {
    const w = world();
    const busybox = w.image('busybox', '1000:1000');
    w.record('docker.io/library/busybox:latest', busybox.manifest);
    w.record('docker.io/library/busybox:1.36', busybox.manifest);
    w.record(`docker.io/library/busybox@${busybox.manifest.digest}`, busybox.manifest, {
      [PINNED_LABEL]: 'pinned',
    });
    const missing = w.image('gone', '', false); // config not stored: not usable
    w.record('docker.io/library/broken:1', missing.manifest);
    const watch = await w.index.watch(w.exchange, NS);
    closing = () => watch.close();

    expect(w.index.list()).toHaveLength(1);
    const img = w.index.find('busybox:1.36')!;
    expect(img).toMatchObject({
      id: busybox.config.digest,
      manifestDigest: busybox.manifest.digest,
      chainIds: [busybox.diffId],
      config: { User: '1000:1000', Env: ['A=1'] },
      size: busybox.config.size + 100,
    });
    expect(img.cri).toMatchObject({
      id: busybox.config.digest,
      repoTags: ['docker.io/library/busybox:1.36', 'docker.io/library/busybox:latest'],
      repoDigests: [`docker.io/library/busybox@${busybox.manifest.digest}`],
      uid: { value: 1000n },
      username: '',
      pinned: true,
    });
    expect(w.index.find(busybox.config.digest.slice(7, 19))).toBe(img);
    expect(w.index.find('docker.io/library/broken:1')).toBeUndefined();
  });

  it('follows image create, update and delete events of its namespace only', async () => {
    const w = world();
    const watch = await w.index.watch(w.exchange, NS);
    closing = () => watch.close();
    const a = w.image('a', 'web');
    const b = w.image('b');

    w.record('registry.test/app:1', a.manifest);
    w.publish('/images/create', 'registry.test/app:1');
    await w.processed();
    expect(w.index.find('registry.test/app:1')?.id).toBe(a.config.digest);
    expect(w.index.find('registry.test/app:1')?.cri.username).toBe('web');

    w.record('registry.test/app:1', b.manifest);
    w.publish('/images/update', 'registry.test/app:1');
    await w.processed();
    expect(w.index.find('registry.test/app:1')?.id).toBe(b.config.digest);
    expect(w.index.find(a.config.digest)).toBeUndefined();

    // Another namespace's events say nothing about k8s.io.
    w.records.delete('registry.test/app:1');
    w.publish('/images/delete', 'registry.test/app:1', 'default');
    await w.processed();
    expect(w.index.find('registry.test/app:1')?.id).toBe(b.config.digest);

    w.publish('/images/delete', 'registry.test/app:1');
    await w.processed();
    expect(w.index.list()).toEqual([]);
  });

  it('settles: a change published before a lookup is seen by it', async () => {
    const w = world();
    const watch = await w.index.watch(w.exchange, NS);
    closing = () => watch.close();
    expect(w.index.settled()).toBeUndefined(); // current: nothing to wait for
    const imgs = ['p', 'q', 'r'].map((n) => w.image(n));
    imgs.forEach((img, i) => w.record(`registry.test/s${i}:1`, img.manifest));
    imgs.forEach((_, i) => w.publish('/images/create', `registry.test/s${i}:1`));
    await w.index.settled();
    expect(w.index.list()).toHaveLength(3);
    w.records.delete('registry.test/s1:1');
    w.publish('/images/delete', 'registry.test/s1:1');
    await w.index.settled();
    expect(w.index.find('registry.test/s1:1')).toBeUndefined();
    expect(w.index.settled()).toBeUndefined();
  });

  it('lists an image whose content arrived after its record once it is refreshed', async () => {
    const w = world();
    const watch = await w.index.watch(w.exchange, NS);
    closing = () => watch.close();
    const late = w.image('late', '', false);
    w.record('registry.test/late:1', late.manifest);
    w.publish('/images/create', 'registry.test/late:1');
    await w.processed();
    expect(w.index.find('registry.test/late:1')).toBeUndefined();
    w.image('late'); // the config is stored now
    await w.index.refresh('registry.test/late:1');
    expect(w.index.find('registry.test/late:1')?.id).toBe(late.config.digest);
  });

  it('reloads everything when its subscription is dropped for falling behind', async () => {
    const w = world(1);
    const watch = await w.index.watch(w.exchange, NS);
    closing = () => watch.close();
    const imgs = ['x', 'y', 'z'].map((n) => w.image(n));
    // Published faster than the index takes them: more than its queue holds.
    imgs.forEach((img, i) => w.record(`registry.test/${i}:1`, img.manifest));
    imgs.forEach((_, i) => w.publish('/images/create', `registry.test/${i}:1`));
    w.records.delete('registry.test/0:1'); // and one is gone again before anyone looked
    await w.index.settled(); // after the reload that replaces the dropped subscription
    expect(
      w.index
        .list()
        .map((i) => i.cri.repoTags[0])
        .sort(),
    ).toEqual(['registry.test/1:1', 'registry.test/2:1']);
  });
});
