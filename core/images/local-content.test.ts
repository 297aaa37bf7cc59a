import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errNotFound } from '../errors/catalogue.js';
import { LocalContentStore } from '../content/store.js';
import { ContentMetadataStore } from '../metadata/content.js';
import { MetadataDB } from '../metadata/db.js';
import { localImageContent } from './local-content.js';
import { MediaType } from './oci/media-types.js';
import { onlyPlatform } from './oci/platform.js';
import type { Descriptor } from './oci/types.js';
import { type PullSource, pullImage } from './pull.js';

const NS = 'k8s.io';
const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Two images on the same two layers, served in small pieces so writers overlap. */
function source() {
  const blobs = new Map<string, Buffer>();
  const put = (mediaType: string, data: Buffer): Descriptor => {
    const d = { mediaType, digest: digestOf(data), size: data.length };
    blobs.set(d.digest, data);
    return d;
  };
  const image = (top: string) => {
    const layers = ['base-1', 'base-2', top].map((l) =>
      put(MediaType.OCILayer, Buffer.alloc(256 << 10, l)),
    );
    const config = put(
      MediaType.OCIConfig,
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
        }),
      ),
    );
    return put(
      MediaType.OCIManifest,
      Buffer.from(JSON.stringify({ schemaVersion: 2, config, layers })),
    );
  };
  const serve = (d: Descriptor) => {
    const b = blobs.get(d.digest);
    if (!b) throw errNotFound(d.digest);
    return b;
  };
  const of = (root: Descriptor): PullSource => ({
    domain: 'registry.test',
    path: 'shared',
    resolve: async () => ({ name: `registry.test/shared@${root.digest}`, descriptor: root }),
    fetchManifest: async (d) => serve(d),
    fetchBlob: async (d) => {
      const b = serve(d);
      return (async function* () {
        for (let i = 0; i < b.length; i += 16 << 10) {
          await new Promise((r) => setImmediate(r));
          yield b.subarray(i, i + (16 << 10));
        }
      })();
    },
  });
  return { image, of };
}

describe('localImageContent', () => {
  let dir: string;
  let db: MetadataDB;
  let store: ContentMetadataStore;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-local-content-'));
    db = await MetadataDB.open(path.join(dir, 'meta'));
    store = new ContentMetadataStore(db, await LocalContentStore.open(path.join(dir, 'content')));
  });
  afterEach(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lets many concurrent pulls sharing layers succeed, leaving no ingest', async () => {
    const src = source();
    const a = src.image('a');
    const b = src.image('b');
    const content = localImageContent(store, NS);
    const records: string[] = [];
    const images = { put: async (r: { name: string }) => void records.push(r.name) };
    const roots = [a, b, a, b, a, b, a, b];
    await Promise.all(
      roots.map((root) =>
        pullImage(
          src.of(root),
          { content, images },
          { platform: onlyPlatform({ os: 'linux', architecture: 'amd64' }) },
        ),
      ),
    );
    expect(records).toHaveLength(roots.length);
    // Four layers, two configs, two manifests; nothing half-written.
    expect(await store.list(NS)).toHaveLength(8);
    expect(await store.listStatuses(NS)).toEqual([]);
  });

  /** The store, with a record of every abort made while no writer of this process held the ref. */
  function watched() {
    const held = new Map<string, number>();
    const unheldAborts: string[] = [];
    const proxy = Object.create(store) as ContentMetadataStore;
    proxy.writer = async (ns, ref, opts) => {
      const w = await store.writer(ns, ref, opts);
      held.set(ref, (held.get(ref) ?? 0) + 1);
      let released = false;
      const release = () => {
        if (!released) held.set(ref, held.get(ref)! - 1);
        released = true;
      };
      const commit = w.commit.bind(w);
      const close = w.close.bind(w);
      w.commit = (...a) => commit(...a).finally(release);
      w.close = () => close().finally(release);
      return w;
    };
    proxy.abort = async (ns, ref) => {
      if (!held.get(ref)) unheldAborts.push(ref);
      return store.abort(ns, ref);
    };
    return { proxy, unheldAborts };
  }

  it('discards a failed ingest only while it holds the ref', async () => {
    const { proxy, unheldAborts } = watched();
    const content = localImageContent(proxy, NS);
    const data = Buffer.from('blob');
    const desc = { mediaType: MediaType.OCILayer, digest: digestOf(data), size: data.length };

    // Another writer stores the blob while this one is still streaming it.
    const raced = content.write(
      'blob-ref',
      desc,
      () =>
        (async function* () {
          yield data;
          const other = await store.writer(NS, 'other-ref');
          await other.write(data);
          await other.commit(data.length, desc.digest);
        })(),
      {},
    );
    expect(await raced).toBe(false);

    // Bytes that are not the blob fail at commit and leave nothing behind.
    const err = await content
      .write(
        'blob-ref-2',
        { ...desc, digest: digestOf(Buffer.from('other')) },
        () =>
          (async function* () {
            yield data;
          })(),
        {},
      )
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/unexpected commit digest/);
    expect(await store.listStatuses(NS)).toEqual([]);
    expect(unheldAborts).toEqual([]);
  });
});
