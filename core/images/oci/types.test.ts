import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { errNotFound } from '../../errors/catalogue.js';
import { MediaType } from './media-types.js';
import { onlyPlatform } from './platform.js';
import { type BlobSource, platformsOf, resolveImage } from './resolve.js';
import {
  type Descriptor,
  parseDescriptor,
  parseImageConfig,
  parseIndex,
  parseManifest,
} from './types.js';

const D = (c: string) => `sha256:${c.repeat(64)}`;

describe('strict document parsing', () => {
  it('parses a manifest and keeps only known fields', () => {
    const m = parseManifest(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OCIManifest,
        config: { mediaType: MediaType.OCIConfig, digest: D('a'), size: 10 },
        layers: [
          { mediaType: MediaType.OCILayerGzip, digest: D('b'), size: 20, annotations: { x: 'y' } },
        ],
        extra: 1,
      }),
      MediaType.OCIManifest,
    );
    expect(m.config.digest).toBe(D('a'));
    expect(m.layers[0]).toEqual({
      mediaType: MediaType.OCILayerGzip,
      digest: D('b'),
      size: 20,
      annotations: { x: 'y' },
    });
  });

  it('refuses malformed descriptors', () => {
    const ok = { mediaType: MediaType.OCILayer, digest: D('a'), size: 1 };
    expect(parseDescriptor(ok)).toEqual(ok);
    for (const bad of [
      { ...ok, digest: 'sha256:../../etc/passwd' },
      { ...ok, digest: `SHA256:${'a'.repeat(64)}` },
      { ...ok, size: -1 },
      { ...ok, size: 1.5 },
      { ...ok, size: '1' },
      { ...ok, mediaType: '' },
      { ...ok, annotations: { a: 1 } },
      { ...ok, platform: { os: 'linux' } },
      null,
      [],
    ])
      expect(() => parseDescriptor(bad), JSON.stringify(bad)).toThrow(/invalid argument/);
  });

  it('refuses manifest/index confusion and schema versions other than 2', () => {
    const index = { schemaVersion: 2, mediaType: MediaType.OCIIndex, manifests: [] };
    const manifest = {
      schemaVersion: 2,
      config: { mediaType: MediaType.OCIConfig, digest: D('a'), size: 1 },
      layers: [],
    };
    expect(() => parseManifest(JSON.stringify(index))).toThrow(/mediaType|index fields/);
    expect(() => parseManifest(JSON.stringify({ ...manifest, manifests: [] }))).toThrow(
      /index fields/,
    );
    expect(() => parseIndex(JSON.stringify({ ...index, config: manifest.config }))).toThrow(
      /manifest fields/,
    );
    expect(() => parseIndex(JSON.stringify(manifest))).toThrow(/manifest fields/);
    expect(() => parseIndex(JSON.stringify({ schemaVersion: 2 }))).toThrow(
      /manifests must be an array/,
    );
    expect(() => parseManifest(JSON.stringify({ ...manifest, schemaVersion: 1 }))).toThrow(
      /schemaVersion/,
    );
    // The document's own media type must agree with the descriptor that named it.
    expect(() =>
      parseManifest(
        JSON.stringify({ ...manifest, mediaType: MediaType.DockerManifest }),
        MediaType.OCIManifest,
      ),
    ).toThrow(/does not match/);
    expect(() => parseManifest('{"schemaVersion":2')).toThrow(/not valid JSON/);
    expect(() => parseManifest(Buffer.alloc(5 << 20, 0x20))).toThrow(/exceeds the limit/);
  });

  it('parses image configs, treating null like absent as Docker writes it', () => {
    const c = parseImageConfig(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Env: ['A=1'], Cmd: null, Entrypoint: ['/bin/sh'], WorkingDir: '/w', User: '1:2' },
        rootfs: { type: 'layers', diff_ids: [D('a')] },
      }),
    );
    expect(c.config).toEqual({
      Env: ['A=1'],
      Entrypoint: ['/bin/sh'],
      WorkingDir: '/w',
      User: '1:2',
    });
    expect(() => parseImageConfig(JSON.stringify({ rootfs: { type: 'x', diff_ids: [] } }))).toThrow(
      /rootfs type/,
    );
    expect(() =>
      parseImageConfig(JSON.stringify({ rootfs: { type: 'layers', diff_ids: ['nope'] } })),
    ).toThrow(/diff_ids/);
    expect(() =>
      parseImageConfig(
        JSON.stringify({ config: { Env: 'A=1' }, rootfs: { type: 'layers', diff_ids: [] } }),
      ),
    ).toThrow(/Env must be an array/);
  });
});

/** An in-memory content store of JSON documents. */
function memory() {
  const blobs = new Map<string, Buffer>();
  const put = (mediaType: string, doc: unknown, platform?: Descriptor['platform']): Descriptor => {
    const data = Buffer.from(JSON.stringify(doc));
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    blobs.set(digest, data);
    return { mediaType, digest, size: data.length, ...(platform ? { platform } : {}) };
  };
  const src: BlobSource = {
    readBlob: async (digest) => {
      const b = blobs.get(digest);
      if (!b) throw errNotFound(`content ${digest}`);
      return b;
    },
  };
  return { blobs, put, src };
}

function image(m: ReturnType<typeof memory>, arch: string, variant?: string): Descriptor {
  const config = m.put(MediaType.OCIConfig, {
    architecture: arch,
    os: 'linux',
    ...(variant ? { variant } : {}),
    rootfs: { type: 'layers', diff_ids: [D(arch === 'amd64' ? 'a' : 'b')] },
  });
  return m.put(MediaType.OCIManifest, {
    schemaVersion: 2,
    config,
    layers: [{ mediaType: MediaType.OCILayerGzip, digest: D('f'), size: 1 }],
  });
}

describe('resolving an image for a platform', () => {
  it('picks the best manifest of an index, following nested indexes', async () => {
    const m = memory();
    const amd64 = image(m, 'amd64');
    const arm64 = image(m, 'arm64');
    const armv7 = image(m, 'arm', 'v7');
    const nested = m.put(MediaType.OCIIndex, {
      schemaVersion: 2,
      manifests: [{ ...arm64, platform: { os: 'linux', architecture: 'arm64' } }],
    });
    const top = m.put(MediaType.OCIIndex, {
      schemaVersion: 2,
      manifests: [
        { ...armv7, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
        nested,
        { ...amd64, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    });
    const onArm64 = await resolveImage(
      m.src,
      top,
      onlyPlatform({ os: 'linux', architecture: 'arm64' }),
    );
    expect(onArm64.manifestDesc.digest).toBe(arm64.digest);
    expect(onArm64.diffIds).toEqual([D('b')]);
    const onAmd64 = await resolveImage(
      m.src,
      top,
      onlyPlatform({ os: 'linux', architecture: 'amd64' }),
    );
    expect(onAmd64.manifestDesc.digest).toBe(amd64.digest);
    expect(onAmd64.chainIds).toEqual([D('a')]);
    await expect(
      resolveImage(m.src, top, onlyPlatform({ os: 'linux', architecture: 's390x' })),
    ).rejects.toThrow(/no match for platform linux\/s390x/);
    const ps = (await platformsOf(m.src, top)).map(
      (p) => `${p.os}/${p.architecture}${p.variant ? '/' + p.variant : ''}`,
    );
    expect(ps.sort()).toEqual(['linux/amd64', 'linux/arm/v7', 'linux/arm64']);
  });

  it('checks a lone manifest against its config platform', async () => {
    const m = memory();
    const arm64 = image(m, 'arm64');
    await expect(
      resolveImage(m.src, arm64, onlyPlatform({ os: 'linux', architecture: 'amd64' })),
    ).rejects.toThrow(/no match/);
    expect(
      (await resolveImage(m.src, arm64, onlyPlatform({ os: 'linux', architecture: 'arm64' })))
        .platform,
    ).toEqual({
      os: 'linux',
      architecture: 'arm64',
    });
  });

  it('reports a missing blob, a blob that does not match its digest, and layer/diff ID mismatches', async () => {
    const m = memory();
    const amd64 = image(m, 'amd64');
    const manifest = JSON.parse(m.blobs.get(amd64.digest)!.toString());
    m.blobs.delete(manifest.config.digest);
    const linux = onlyPlatform({ os: 'linux', architecture: 'amd64' });
    await expect(resolveImage(m.src, amd64, linux)).rejects.toThrow(
      /referenced by the image is missing/,
    );

    m.blobs.set(manifest.config.digest, Buffer.from('{}'));
    await expect(resolveImage(m.src, amd64, linux)).rejects.toThrow(/do not match the descriptor/);

    const twoLayers = m.put(MediaType.OCIManifest, {
      schemaVersion: 2,
      config: m.put(MediaType.OCIConfig, {
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [D('a')] },
      }),
      layers: [
        { mediaType: MediaType.OCILayerGzip, digest: D('e'), size: 1 },
        { mediaType: MediaType.OCILayerGzip, digest: D('f'), size: 1 },
      ],
    });
    await expect(resolveImage(m.src, twoLayers, linux)).rejects.toThrow(
      /2 layers but config lists 1 diff IDs/,
    );
  });
});
