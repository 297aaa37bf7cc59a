// Pushing an image from the daemon's content store to a registry, client side:
// layers and configs first (skipped when the registry has them), then the
// manifests by digest, and the root manifest or index last under the tag, so
// the tag never points at something incomplete.

import { BerthError, isNotFound } from '../core/errors/catalogue.js';
import { isIndexType, isManifestType } from '../core/images/oci/media-types.js';
import { onlyPlatform, parsePlatformSpecifier } from '../core/images/oci/platform.js';
import {
  type Descriptor,
  MAX_MANIFEST_BYTES,
  parseIndex,
  parseManifest,
} from '../core/images/oci/types.js';
import { Limiter } from '../core/images/registry/limiter.js';
import { pushBlob, pushManifest } from '../core/images/registry/pusher.js';
import { formatPlatform } from '../core/images/oci/platform.js';
import { normalizeReference, parseReference } from '../core/images/registry/reference.js';
import { Repository, type RegistryOptions } from '../core/images/registry/repository.js';
import type { Client } from './client.js';
import { type ProgressHandler, ProgressReporter } from './transfer-progress.js';

export const DEFAULT_MAX_CONCURRENT_UPLOADS = 3;

export interface PushOptions extends RegistryOptions {
  /** Local image name; default: the remote reference. */
  local?: string;
  /** Push only this platform's manifest (under the tag) from an index. */
  platform?: string;
  maxConcurrentUploads?: number;
  /** Blobs larger than this go up in PATCH chunks of this size. */
  chunkSize?: number;
  onProgress?: ProgressHandler;
}

export interface PushResult {
  /** Fully qualified remote reference. */
  name: string;
  /** What the tag now points at. */
  target: Descriptor;
  /** Blobs uploaded (the others were already in the registry). */
  uploaded: number;
}

async function readDocument(client: Client, desc: Descriptor): Promise<Buffer> {
  if (desc.size > MAX_MANIFEST_BYTES) {
    throw new BerthError(
      'InvalidArgument',
      `${desc.digest}: manifest larger than ${MAX_MANIFEST_BYTES} bytes`,
    );
  }
  const parts: Uint8Array[] = [];
  try {
    for await (const c of client.content.read(desc.digest)) parts.push(c);
  } catch (err) {
    if (isNotFound(err)) {
      throw new BerthError(
        'FailedPrecondition',
        `content ${desc.digest} (${desc.mediaType}${desc.platform ? `, ${formatPlatform(desc.platform)}` : ''}) is not stored locally; pull it with all platforms or push one --platform`,
      );
    }
    throw err;
  }
  return Buffer.concat(parts);
}

/** What a push uploads, children before parents. */
interface Plan {
  blobs: Map<string, Descriptor>;
  /** Manifests and indexes with their bytes, deepest first; the root last. */
  documents: Array<{ desc: Descriptor; data: Buffer }>;
}

async function plan(client: Client, root: Descriptor, out: Plan): Promise<void> {
  const data = await readDocument(client, root);
  if (isIndexType(root.mediaType)) {
    const index = parseIndex(data, root.mediaType);
    for (const m of index.manifests) await plan(client, m, out);
  } else if (isManifestType(root.mediaType)) {
    const m = parseManifest(data, root.mediaType);
    for (const b of [...m.layers, m.config]) out.blobs.set(b.digest, b);
  } else {
    throw new BerthError(
      'InvalidArgument',
      `${root.digest}: ${root.mediaType} is not a manifest or index`,
    );
  }
  if (!out.documents.some((d) => d.desc.digest === root.digest))
    out.documents.push({ desc: root, data });
}

/** The manifest of an index for one platform. */
async function pickPlatform(client: Client, root: Descriptor, spec: string): Promise<Descriptor> {
  if (!isIndexType(root.mediaType)) return root;
  const matcher = onlyPlatform(parsePlatformSpecifier(spec));
  const index = parseIndex(await readDocument(client, root), root.mediaType);
  const best = index.manifests
    .filter((m) => m.platform && matcher.match(m.platform))
    .sort((a, b) => matcher.compare(a.platform!, b.platform!))[0];
  if (!best) throw new BerthError('NotFound', `no manifest for platform ${spec} in ${root.digest}`);
  return pickPlatform(client, best, spec);
}

/** Pushes a local image to `remote` (e.g. `127.0.0.1:5000/team/app:1.0`). */
export async function push(
  client: Client,
  remote: string,
  opts: PushOptions = {},
): Promise<PushResult> {
  const ref = parseReference(remote);
  const name = normalizeReference(remote);
  const image = await client.images.get(opts.local ?? name);
  const t = image.target;
  if (!t) throw new BerthError('FailedPrecondition', `image ${image.name} has no target`);
  let root: Descriptor = { mediaType: t.mediaType, digest: t.digest, size: t.size };
  if (opts.platform) root = await pickPlatform(client, root, opts.platform);
  if (ref.digest && ref.digest !== root.digest) {
    throw new BerthError(
      'InvalidArgument',
      `${remote} names ${ref.digest} but the image is ${root.digest}`,
    );
  }
  const work: Plan = { blobs: new Map(), documents: [] };
  await plan(client, root, work);

  const progress = new ProgressReporter(opts.onProgress);
  const repo = await Repository.open(ref, opts);
  const limiter = new Limiter(opts.maxConcurrentUploads ?? DEFAULT_MAX_CONCURRENT_UPLOADS);
  let uploaded = 0;
  try {
    for (const b of work.blobs.values()) {
      progress.emit({
        status: 'waiting',
        ref: b.digest,
        mediaType: b.mediaType,
        offset: 0,
        total: b.size,
      });
    }
    await Promise.all(
      [...work.blobs.values()].map((b) =>
        limiter.run(async () => {
          const p = { ref: b.digest, mediaType: b.mediaType, total: b.size };
          const sent = await pushBlob(repo, b, () => client.content.read(b.digest), {
            chunkSize: opts.chunkSize,
            onProgress: (offset) => progress.bytes({ ...p, status: 'uploading', offset }),
          });
          if (sent) uploaded++;
          progress.emit({ ...p, status: sent ? 'done' : 'exists', offset: b.size });
        }),
      ),
    );
    for (const { desc, data } of work.documents) {
      const isRoot = desc.digest === root.digest;
      await pushManifest(repo, desc, data, isRoot ? (ref.tag ?? desc.digest) : desc.digest);
      progress.emit({
        status: 'done',
        ref: desc.digest,
        mediaType: desc.mediaType,
        offset: desc.size,
        total: desc.size,
      });
    }
  } finally {
    repo.close();
  }
  return { name, target: root, uploaded };
}
