// Large images made of random files, for measuring and crash-testing pulls,
// imports and unpacks: busybox's rootfs as the base layer (so the image runs),
// then layers of random, incompressible files written straight into a gzipped
// tar in memory. Random content keeps gzip from shrinking the transfer, so the
// compressed size is what the registry serves and the content store holds.

import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { encodeHeader, END_OF_ARCHIVE, padding } from '../../core/diff/tar-writer.js';
import {
  ANNOTATION_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  type BuiltImage,
  type BuiltLayer,
  busyboxImage,
  DEFAULT_PATH,
  type Descriptor,
  FIXED_CREATED,
  FIXED_MTIME,
  imageArchitecture,
  MEDIA_TYPES,
} from '../../test/fixtures/image-builder.js';

export interface RandomLayerSpec {
  /** Directory inside the image the files go under, e.g. "data/0". */
  dir: string;
  files: number;
  /** Bytes per file. */
  fileSize: number;
  /** Files per subdirectory of `dir` (default 1000), so no directory grows huge. */
  filesPerDir?: number;
}

export interface SyntheticImageSpec {
  ref: string;
  /** Layers on top of the busybox base layer. */
  layers: RandomLayerSpec[];
}

export interface SyntheticImage extends BuiltImage {
  /** Regular files in the random layers. */
  randomFiles: number;
  /** Uncompressed bytes of every layer (tar streams), base included. */
  uncompressedBytes: number;
  /** Compressed bytes of every layer: what a pull downloads. */
  compressedBytes: number;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const root = { uid: 0, gid: 0, mtime: FIXED_MTIME };

/** The tar stream of one random layer: directories first, then files of fresh random bytes. */
function* randomTar(spec: RandomLayerSpec): Generator<Buffer> {
  const perDir = spec.filesPerDir ?? 1000;
  const parts = spec.dir.split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    yield* encodeHeader({
      ...root,
      name: `${parts.slice(0, i).join('/')}/`,
      type: 'dir',
      mode: 0o755,
      size: 0,
    });
  }
  for (let n = 0; n < spec.files; n++) {
    const sub = `${parts.join('/')}/d${Math.floor(n / perDir)}`;
    if (n % perDir === 0)
      yield* encodeHeader({ ...root, name: `${sub}/`, type: 'dir', mode: 0o755, size: 0 });
    yield* encodeHeader({
      ...root,
      name: `${sub}/f${n}`,
      type: 'file',
      mode: 0o644,
      size: spec.fileSize,
    });
    yield randomBytes(spec.fileSize);
    yield padding(spec.fileSize);
  }
  yield END_OF_ARCHIVE;
}

/** One random layer as a gzip blob (level 1: random data does not compress anyway). */
export async function randomLayer(spec: RandomLayerSpec): Promise<{
  layer: BuiltLayer;
  data: Buffer;
}> {
  const diffHash = createHash('sha256');
  let uncompressedSize = 0;
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(
      (function* () {
        for (const chunk of randomTar(spec)) {
          diffHash.update(chunk);
          uncompressedSize += chunk.length;
          yield chunk;
        }
      })(),
    ),
    createGzip({ level: 1 }),
    async function (source: AsyncIterable<Buffer>) {
      for await (const c of source) out.push(c);
    },
  );
  const data = Buffer.concat(out);
  return {
    data,
    layer: {
      mediaType: MEDIA_TYPES.layerGzip,
      digest: sha256(data),
      size: data.length,
      diffId: `sha256:${diffHash.digest('hex')}`,
      uncompressedSize,
    },
  };
}

/** busybox's base layer plus the random layers, as an OCI image (manifest, config, index). */
export async function syntheticImage(spec: SyntheticImageSpec): Promise<SyntheticImage> {
  const base = await busyboxImage({ ref: spec.ref });
  const baseLayer = base.layers[0]!;
  const blobs = new Map<string, Buffer>([[baseLayer.digest, base.blobs.get(baseLayer.digest)!]]);
  const layers: BuiltLayer[] = [baseLayer];
  for (const l of spec.layers) {
    const { layer, data } = await randomLayer(l);
    blobs.set(layer.digest, data);
    layers.push(layer);
  }
  const config = Buffer.from(
    JSON.stringify({
      created: FIXED_CREATED,
      architecture: imageArchitecture(),
      os: 'linux',
      config: { Env: [`PATH=${DEFAULT_PATH}`], Cmd: ['sh'], WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_, i) => ({ created: FIXED_CREATED, created_by: `layer ${i}` })),
    }),
  );
  const configDesc: Descriptor = {
    mediaType: MEDIA_TYPES.config,
    digest: sha256(config),
    size: config.length,
  };
  blobs.set(configDesc.digest, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.manifest,
      config: configDesc,
      layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    }),
  );
  const manifestDesc: Descriptor = {
    mediaType: MEDIA_TYPES.manifest,
    digest: sha256(manifest),
    size: manifest.length,
    annotations: { [ANNOTATION_IMAGE_NAME]: spec.ref, [ANNOTATION_REF_NAME]: spec.ref },
    platform: { architecture: imageArchitecture(), os: 'linux' },
  };
  blobs.set(manifestDesc.digest, manifest);
  const index = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests: [manifestDesc] }),
  );
  return {
    ref: spec.ref,
    manifest: manifestDesc,
    config: configDesc,
    layers,
    blobs,
    index,
    randomFiles: spec.layers.reduce((n, l) => n + l.files, 0),
    uncompressedBytes: layers.reduce((n, l) => n + l.uncompressedSize, 0),
    compressedBytes: layers.reduce((n, l) => n + l.size, 0),
  };
}
