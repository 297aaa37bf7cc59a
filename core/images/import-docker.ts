// `docker save` archives: manifest.json lists, per image, its config file,
// its repo tags and its layer tars in order. Each becomes a Docker schema 2
// manifest in the content store (config and layers are blobs already), and
// the set becomes an in-memory index whose entries carry the image names, as
// containerd's importer does, so OCI layouts and docker archives are named
// and unpacked the same way.

import { createHash } from 'node:crypto';
import { errInvalidArgument, errNotFound, isAlreadyExists } from '../errors/catalogue.js';
import { normalizeReference, parseReference } from './registry/reference.js';
import {
  type ArchiveSink,
  bytesOf,
  type ReadArchive,
  resolveArchivePath,
} from './import-archive.js';
import { Annotation, MediaType } from './oci/media-types.js';
import { type Descriptor, type Index, MAX_MANIFEST_BYTES, parseImageConfig } from './oci/types.js';

interface DockerManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

export function parseDockerManifestJson(data: Buffer): DockerManifestEntry[] {
  let v: unknown;
  try {
    v = JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw errInvalidArgument(
      `docker archive manifest.json: not valid JSON (${(err as Error).message})`,
    );
  }
  if (!Array.isArray(v)) throw errInvalidArgument('docker archive manifest.json: must be an array');
  return v.map((e, i) => {
    const what = `docker archive manifest.json[${i}]`;
    if (e === null || typeof e !== 'object') throw errInvalidArgument(`${what}: must be an object`);
    const o = e as Record<string, unknown>;
    if (typeof o.Config !== 'string' || o.Config === '')
      throw errInvalidArgument(`${what}: Config must be a path`);
    const tags = o.RepoTags ?? [];
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string'))
      throw errInvalidArgument(`${what}: RepoTags must be an array of strings`);
    if (!Array.isArray(o.Layers) || !o.Layers.every((l) => typeof l === 'string'))
      throw errInvalidArgument(`${what}: Layers must be an array of paths`);
    return { Config: o.Config, RepoTags: tags as string[], Layers: o.Layers as string[] };
  });
}

/** Stores a document as a blob; returns its descriptor. */
async function putDocument(
  sink: ArchiveSink,
  ref: string,
  mediaType: string,
  data: Buffer,
): Promise<Descriptor> {
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  try {
    await sink.ingest(ref, bytesOf(data), { expectedDigest: digest, expectedSize: data.length });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
  return { mediaType, digest, size: data.length };
}

export interface DockerConversionDeps {
  sink: ArchiveSink;
  /** First bytes of a stored blob, for layers stored before this import. */
  peek(digest: string, n: number): Promise<Buffer>;
}

/** Converts a docker-save archive's images to manifests; returns the index naming them. */
export async function dockerArchiveIndex(
  archive: ReadArchive,
  deps: DockerConversionDeps,
  refPrefix: string,
): Promise<Index> {
  const raw = archive.documents.get('manifest.json');
  if (!raw) {
    if (archive.documents.has('repositories'))
      throw errInvalidArgument(
        'docker archive has only the legacy "repositories" file (no manifest.json); it is not supported',
      );
    throw errInvalidArgument('not a docker archive: manifest.json is missing');
  }
  const entries = parseDockerManifestJson(raw);
  const manifests: Descriptor[] = [];
  let n = 0;
  for (const e of entries) {
    const configPath = resolveArchivePath(archive, e.Config);
    const configData = archive.documents.get(configPath);
    if (!configData) {
      throw errNotFound(`docker archive: config ${JSON.stringify(e.Config)} is not in the archive`);
    }
    const config = parseImageConfig(configData);
    const configDesc = await putDocument(
      deps.sink,
      `${refPrefix}-config-${n}`,
      MediaType.DockerConfig,
      configData,
    );
    const layers: Descriptor[] = [];
    for (const l of e.Layers) {
      const file = archive.files.get(resolveArchivePath(archive, l));
      if (!file)
        throw errNotFound(`docker archive: layer ${JSON.stringify(l)} is not in the archive`);
      let gzip = file.gzip;
      if (gzip === undefined) {
        const head = await deps.peek(file.digest, 2);
        gzip = head.length === 2 && head[0] === 0x1f && head[1] === 0x8b;
      }
      layers.push({
        mediaType: gzip ? MediaType.DockerLayerGzip : MediaType.DockerLayer,
        digest: file.digest,
        size: file.size,
      });
    }
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.DockerManifest,
        config: configDesc,
        layers,
      }),
    );
    if (manifest.length > MAX_MANIFEST_BYTES)
      throw errInvalidArgument('docker archive: manifest too large');
    const desc = await putDocument(
      deps.sink,
      `${refPrefix}-manifest-${n}`,
      MediaType.DockerManifest,
      manifest,
    );
    const platform =
      config.os && config.architecture
        ? {
            os: config.os,
            architecture: config.architecture,
            ...(config.variant ? { variant: config.variant } : {}),
          }
        : undefined;
    const tags = e.RepoTags.length ? e.RepoTags : [undefined];
    for (const tag of tags) {
      const annotations: Record<string, string> = {};
      if (tag) {
        const full = normalizeReference(tag);
        annotations[Annotation.ImageName] = full;
        const ref = parseReference(tag);
        if (ref.tag) annotations[Annotation.RefName] = ref.tag;
      }
      manifests.push({ ...desc, annotations, ...(platform ? { platform } : {}) });
    }
    n++;
  }
  return { schemaVersion: 2, mediaType: MediaType.OCIIndex, manifests };
}
