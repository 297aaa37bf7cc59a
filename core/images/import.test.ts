import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthError, errAlreadyExists, errNotFound } from '../errors/catalogue.js';
import {
  ANNOTATION_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  type BuiltImage,
  busyboxImage,
  writeImageArchive,
} from '../../test/fixtures/image-builder.js';
import { exportImages, tagOf } from './export.js';
import { entryName, type ImportContent, importImages } from './import.js';
import { MediaType } from './oci/media-types.js';
import { onlyPlatform } from './oci/platform.js';
import { resolveImage } from './oci/resolve.js';
import type { Descriptor } from './oci/types.js';

/** An in-memory content store that verifies like the real one. */
function memoryContent() {
  const blobs = new Map<string, Buffer>();
  const labels = new Map<string, Record<string, string>>();
  const c: ImportContent & { read(d: string): AsyncIterable<Uint8Array> } = {
    readBlob: async (d) => {
      const b = blobs.get(d);
      if (!b) throw errNotFound(`content ${d}`);
      return b;
    },
    async *read(d) {
      const b = blobs.get(d);
      if (!b) throw errNotFound(`content ${d}`);
      yield b.subarray(0, 7);
      yield b.subarray(7);
    },
    has: async (d) => blobs.has(d),
    setLabels: async (d, l) => void labels.set(d, { ...(labels.get(d) ?? {}), ...l }),
    peek: async (d, n) => blobs.get(d)!.subarray(0, n),
    ingest: async (_ref, data, opts) => {
      if (opts.expectedDigest && blobs.has(opts.expectedDigest))
        throw errAlreadyExists(`content ${opts.expectedDigest}`);
      const parts: Buffer[] = [];
      for await (const p of data) parts.push(Buffer.from(p));
      const b = Buffer.concat(parts);
      const digest = `sha256:${createHash('sha256').update(b).digest('hex')}`;
      if (opts.expectedSize !== undefined && b.length !== opts.expectedSize)
        throw new BerthError(
          'FailedPrecondition',
          `unexpected commit size ${b.length}, expected ${opts.expectedSize}`,
        );
      if (opts.expectedDigest && digest !== opts.expectedDigest)
        throw new BerthError(
          'FailedPrecondition',
          `unexpected commit digest ${digest}, expected ${opts.expectedDigest}`,
        );
      if (blobs.has(digest)) throw errAlreadyExists(`content ${digest}`);
      blobs.set(digest, b);
      return digest;
    },
  };
  return { c, blobs, labels };
}

function memoryImages() {
  const images = new Map<string, Descriptor>();
  return { images, put: async (name: string, target: Descriptor) => void images.set(name, target) };
}

async function* fileBytes(p: string | Buffer): AsyncGenerator<Buffer> {
  const data = typeof p === 'string' ? fs.readFileSync(p) : p;
  // Odd chunk sizes, to cross tar block boundaries.
  for (let i = 0; i < data.length; i += 10_007) yield data.subarray(i, i + 10_007);
}

const REF = 'docker.io/library/busybox:latest';

describe('importing image archives', () => {
  let img: BuiltImage;
  let tmp: string;
  let host: ReturnType<typeof onlyPlatform>;
  beforeAll(async () => {
    img = await busyboxImage();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-import-unit-'));
    const cfg = JSON.parse(img.blobs.get(img.config.digest)!.toString());
    host = onlyPlatform({ os: 'linux', architecture: cfg.architecture });
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('imports an OCI layout: blobs, children labels, images by annotation', async () => {
    const tar = path.join(tmp, 'oci.tar');
    writeImageArchive(img, tar, 'oci');
    const m = memoryContent();
    const ims = memoryImages();
    const out = await importImages(fileBytes(tar), m.c, ims, { platform: host });
    expect(out.map((i) => i.name)).toEqual([REF]);
    expect(ims.images.get(REF)!.digest).toBe(img.manifest.digest);
    expect(ims.images.get(REF)!.platform).toBeUndefined();
    for (const d of img.blobs.keys()) expect(m.blobs.has(d)).toBe(true);
    expect(m.labels.get(img.manifest.digest)).toEqual({
      'containerd.io/gc.ref.content.config': img.config.digest,
      'containerd.io/gc.ref.content.l.0': img.layers[0]!.digest,
      'containerd.io/gc.ref.content.l.1': img.layers[1]!.digest,
    });

    // Again, over what is stored already, and gzip-compressed as a whole.
    const again = await importImages(fileBytes(gzipSync(fs.readFileSync(tar))), m.c, ims, {
      platform: host,
      indexName: 'all:v1',
    });
    expect(again.map((i) => i.name)).toEqual([REF, 'all:v1']);
    const index = ims.images.get('all:v1')!;
    expect(index.mediaType).toBe(MediaType.OCIIndex);
    expect(m.labels.get(index.digest)).toEqual({
      'containerd.io/gc.ref.content.m.0': img.manifest.digest,
    });
  });

  it('converts a docker save archive to a docker schema 2 manifest with the same layers', async () => {
    const tar = path.join(tmp, 'docker.tar');
    writeImageArchive(img, tar, 'docker');
    const m = memoryContent();
    const ims = memoryImages();
    const out = await importImages(fileBytes(tar), m.c, ims, { platform: host });
    expect(out.map((i) => i.name)).toEqual([REF]);
    const target = ims.images.get(REF)!;
    expect(target.mediaType).toBe(MediaType.DockerManifest);
    const r = await resolveImage(m.c, target, host);
    expect(r.manifest.config.digest).toBe(img.config.digest);
    expect(r.manifest.layers.map((l) => l.mediaType)).toEqual([
      MediaType.DockerLayer,
      MediaType.DockerLayer,
    ]);
    // Docker archives hold uncompressed layers: their digests are the diff IDs.
    expect(r.manifest.layers.map((l) => l.digest)).toEqual(img.layers.map((l) => l.diffId));
  });

  it('names entries like ctr: full names as they are, bare tags only with a base name', () => {
    const d = (a: Record<string, string>): Descriptor => ({
      mediaType: MediaType.OCIManifest,
      digest: `sha256:${'a'.repeat(64)}`,
      size: 1,
      annotations: a,
    });
    expect(entryName(d({ [ANNOTATION_IMAGE_NAME]: REF, [ANNOTATION_REF_NAME]: 'latest' }))).toBe(
      REF,
    );
    expect(entryName(d({ [ANNOTATION_REF_NAME]: 'v1' }))).toBeUndefined();
    expect(entryName(d({ [ANNOTATION_REF_NAME]: 'v1' }), 'example.com/app')).toBe(
      'example.com/app:v1',
    );
    expect(entryName(d({ [ANNOTATION_REF_NAME]: 'example.com/app:v2' }))).toBe(
      'example.com/app:v2',
    );
    expect(entryName(d({}))).toBeUndefined();
    expect(tagOf(REF)).toBe('latest');
    expect(tagOf('localhost:5000/app')).toBeUndefined();
    expect(tagOf(`x/app@sha256:${'a'.repeat(64)}`)).toBeUndefined();
  });

  it('refuses archives that are not images, miss blobs or name nothing', async () => {
    const m = memoryContent();
    const ims = memoryImages();
    const broken = { ...img, blobs: new Map(img.blobs) };
    broken.blobs.delete(img.config.digest);
    const tar = path.join(tmp, 'broken.tar');
    writeImageArchive(broken, tar);
    await expect(importImages(fileBytes(tar), m.c, ims, { platform: host })).rejects.toThrow(
      new RegExp(
        `blob ${img.config.digest} .*referenced by ${img.manifest.digest} is not in the archive`,
      ),
    );
    expect(ims.images.size).toBe(0);

    const unnamed = {
      ...img,
      index: Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          manifests: [{ ...img.manifest, annotations: { [ANNOTATION_REF_NAME]: 'v1' } }],
        }),
      ),
    };
    writeImageArchive(unnamed, tar);
    await expect(importImages(fileBytes(tar), m.c, ims, { platform: host })).rejects.toThrow(
      /--base-name/,
    );
    expect(
      (await importImages(fileBytes(tar), m.c, ims, { platform: host, baseName: 'local/bb' }))[0]!
        .name,
    ).toBe('local/bb:v1');

    await expect(importImages(fileBytes(Buffer.alloc(1024)), m.c, ims)).rejects.toThrow(
      /not an image archive/,
    );
    await expect(
      importImages(fileBytes(Buffer.from('hello world, not a tar')), m.c, ims),
    ).rejects.toThrow(/truncated|checksum/);
  });

  it('exports a reproducible OCI layout that imports back to the same records', async () => {
    const tar = path.join(tmp, 'src.tar');
    writeImageArchive(img, tar);
    const src = memoryContent();
    const srcImages = memoryImages();
    await importImages(fileBytes(tar), src.c, srcImages, { platform: host });
    const images = [...srcImages.images].map(([name, target]) => ({ name, target }));
    const collect = async () => {
      const parts: Buffer[] = [];
      for await (const b of exportImages(src.c, images)) parts.push(b);
      return Buffer.concat(parts);
    };
    const a = await collect();
    expect((await collect()).equals(a)).toBe(true);
    const dst = memoryContent();
    const dstImages = memoryImages();
    await importImages(fileBytes(a), dst.c, dstImages, { platform: host });
    expect(dstImages.images.get(REF)!.digest).toBe(img.manifest.digest);
    expect([...dst.blobs.keys()].sort()).toEqual([...img.blobs.keys()].sort());

    src.blobs.delete(img.layers[0]!.digest);
    await expect(collect()).rejects.toThrow(/not found/);
  });
});
