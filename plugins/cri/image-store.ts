// The CRI view of images in the k8s.io namespace: image records from the
// images service, manifests and configs from the content store, and the
// unpacked layer chain in the snapshotter (one committed snapshot per chain id,
// the layout containerd's unpacker produces).

import { createHash } from 'node:crypto';
import type { Image as PbImage } from '../../api/gen/containerd/services/images/v1/images.js';
import {
  errFailedPrecondition,
  errInvalidArgument,
  errNotFound,
  isAlreadyExists,
  isNotFound,
} from '../../core/errors/catalogue.js';
import type { ImageConfig } from '../../core/oci/index.js';
import type { ContentMetadataStore } from '../content/index.js';
import type { DiffLocal } from '../diff/service.js';
import type { ImagesLocal } from '../images/index.js';
import { type UnpackDeps, unpackImage } from '../../core/images/unpack.js';
import { LEASE_EXPIRE_LABEL, type LeaseStore } from '../../core/metadata/leases.js';
import type { CallContext } from '../server/context.js';
import type { NamespacedSnapshotter } from '../snapshots/namespaced.js';
import { lookupImage } from './image-lookup.js';

export const CRI_NAMESPACE = 'k8s.io';

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
}

export interface ResolvedImage {
  /** Every image record (name) pointing at this config. */
  names: string[];
  /** name → digest of that record's target (the manifest, or the index it was pulled by). */
  targets: Record<string, string>;
  /** The image id the CRI reports: the config digest. */
  id: string;
  manifestDigest: string;
  /** The manifest chosen for this host (the record's target or an entry of its index). */
  manifest: Descriptor;
  config: ImageConfig & { StopSignal?: string; ExposedPorts?: unknown; Volumes?: unknown };
  diffIds: string[];
  chainIds: string[];
  layers: Descriptor[];
  size: number;
}

export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(
      prev === undefined
        ? d
        : `sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}`,
    );
  }
  return out;
}

export function goArch(): string {
  return (
    (
      {
        x64: 'amd64',
        arm64: 'arm64',
        arm: 'arm',
        ia32: '386',
        s390x: 's390x',
        ppc64: 'ppc64le',
      } as Record<string, string>
    )[process.arch] ?? process.arch
  );
}

/** `name:tag` references are what RepoTags lists; digests go to RepoDigests. */
export function isDigestRef(name: string): boolean {
  return name.includes('@');
}

/** Strips the tag or digest: `docker.io/library/busybox:1.36` → `docker.io/library/busybox`. */
export function repository(name: string): string {
  const at = name.indexOf('@');
  if (at >= 0) return name.slice(0, at);
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  return colon > slash ? name.slice(0, colon) : name;
}

export interface CriImageStoreDeps {
  images: ImagesLocal;
  content: ContentMetadataStore;
  snapshotter: NamespacedSnapshotter;
  /** The snapshotter's name, for the GC label that keeps an image's snapshots. */
  snapshotterName: string;
  leases: LeaseStore;
  diff: DiffLocal;
}

/** Work that makes content or snapshots runs under a lease this long at most. */
const WORK_LEASE_MS = 60 * 60 * 1000;

export class CriImageStore {
  private readonly images: ImagesLocal;
  readonly content: ContentMetadataStore;
  private readonly snapshotter: NamespacedSnapshotter;

  constructor(readonly d: CriImageStoreDeps) {
    this.images = d.images;
    this.content = d.content;
    this.snapshotter = d.snapshotter;
  }

  /**
   * Runs `fn` under a new lease in k8s.io, so the collector leaves what it
   * makes alone until a record refers to it; the lease is deleted afterwards.
   */
  async withLease<T>(fn: (lease: string) => Promise<T>): Promise<T> {
    const lease = await this.d.leases.create(CRI_NAMESPACE, {
      labels: { [LEASE_EXPIRE_LABEL]: new Date(Date.now() + WORK_LEASE_MS).toISOString() },
    });
    try {
      return await fn(lease.id);
    } finally {
      await this.d.leases.delete(CRI_NAMESPACE, lease.id).catch(() => undefined);
    }
  }

  /** The shared unpacker's storage over the local stores, taking everything under `lease`. */
  unpackDeps(lease: string): UnpackDeps {
    const content = this.content;
    const sn = this.snapshotter;
    const diff = this.d.diff;
    const ctx: CallContext = { namespace: CRI_NAMESPACE, signal: new AbortController().signal };
    return {
      content: {
        readBlob: async (digest, max) => {
          const info = await content.info(CRI_NAMESPACE, digest);
          if (info.size > max) throw errInvalidArgument(`content ${digest} exceeds ${max} bytes`);
          const parts: Buffer[] = [];
          for await (const c of content.read(CRI_NAMESPACE, digest)) parts.push(c.data);
          return Buffer.concat(parts);
        },
        labels: async (digest) => (await content.info(CRI_NAMESPACE, digest)).labels,
        setLabels: async (digest, labels) => {
          await content.update(
            CRI_NAMESPACE,
            { digest, labels },
            Object.keys(labels).map((k) => `labels.${k}`),
          );
        },
      },
      snapshots: {
        name: this.d.snapshotterName,
        stat: (key) => sn.stat(CRI_NAMESPACE, key),
        prepare: (key, parent, labels) => sn.prepare(CRI_NAMESPACE, key, parent, { labels, lease }),
        commit: (name, key, labels) => sn.commit(CRI_NAMESPACE, name, key, { labels, lease }),
        remove: (key) => sn.remove(CRI_NAMESPACE, key),
      },
      applier: {
        apply: async (layer, mounts, signal) => {
          const r = await diff.apply(
            {
              diff: {
                mediaType: layer.mediaType,
                digest: layer.digest,
                size: layer.size,
                annotations: layer.annotations ?? {},
              },
              mounts: mounts.map((m) => ({ ...m, target: m.target ?? '' })),
              payloads: {},
            },
            { ...ctx, signal: signal ?? ctx.signal },
          );
          return { digest: r.applied?.digest ?? '', size: Number(r.applied?.size ?? 0) };
        },
      },
    };
  }

  private ctx(): CallContext {
    return { namespace: CRI_NAMESPACE, signal: new AbortController().signal };
  }

  async readJson<T>(digest: string): Promise<T> {
    await this.content.info(CRI_NAMESPACE, digest);
    const chunks: Buffer[] = [];
    for await (const c of this.content.store.read(digest)) chunks.push(c.data);
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
  }

  async records(): Promise<PbImage[]> {
    return (await this.images.list({ filters: [] }, this.ctx())).images;
  }

  /** Records `name` → `target`, replacing the target (and these labels) of an existing record. */
  async putRecord(
    name: string,
    target: { mediaType: string; digest: string; size: number },
    labels: Record<string, string>,
  ): Promise<void> {
    const image = {
      name,
      labels,
      target: { ...target, annotations: {}, urls: [] },
      createdAt: undefined,
      updatedAt: undefined,
    };
    try {
      await this.images.create({ image }, this.ctx());
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      await this.images.update(
        { image, updateMask: ['target', ...Object.keys(labels).map((k) => `labels.${k}`)] },
        this.ctx(),
      );
    }
  }

  async deleteRecord(name: string): Promise<void> {
    try {
      await this.images.delete({ name, sync: false }, this.ctx());
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Manifest for this host's platform, following an index if the target is one. */
  private async manifestOf(target: Descriptor): Promise<Descriptor> {
    if (!INDEX_TYPES.has(target.mediaType)) return target;
    const index = await this.readJson<{ manifests: Descriptor[] }>(target.digest);
    const m = index.manifests.find(
      (d) =>
        (d.platform?.os ?? 'linux') === 'linux' &&
        (d.platform?.architecture ?? goArch()) === goArch(),
    );
    if (!m) throw errNotFound(`no manifest for linux/${goArch()} in ${target.digest}`);
    return m;
  }

  async resolveRecord(rec: PbImage): Promise<ResolvedImage> {
    if (!rec.target) throw errNotFound(`image ${rec.name} has no target`);
    const md = await this.manifestOf(rec.target as Descriptor);
    const manifest = await this.readJson<{ config: Descriptor; layers: Descriptor[] }>(md.digest);
    const cfg = await this.readJson<{
      config?: ResolvedImage['config'];
      rootfs?: { diff_ids?: string[] };
    }>(manifest.config.digest);
    const diffIds = cfg.rootfs?.diff_ids ?? [];
    return {
      names: [rec.name],
      targets: { [rec.name]: rec.target.digest },
      id: manifest.config.digest,
      manifestDigest: md.digest,
      manifest: { mediaType: md.mediaType, digest: md.digest, size: md.size },
      config: cfg.config ?? {},
      diffIds,
      chainIds: chainIds(diffIds),
      layers: manifest.layers,
      size: manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0),
    };
  }

  /** Every image, grouped by id, with all the names that point at it. */
  async listResolved(): Promise<ResolvedImage[]> {
    const byId = new Map<string, ResolvedImage>();
    for (const rec of await this.records()) {
      let r: ResolvedImage;
      try {
        r = await this.resolveRecord(rec);
      } catch {
        continue; // content not (fully) present: not usable, not listed
      }
      const have = byId.get(r.id);
      if (have) {
        have.names.push(rec.name);
        Object.assign(have.targets, r.targets);
      } else byId.set(r.id, r);
    }
    return [...byId.values()];
  }

  /** The image a CRI reference names (see lookupImage for the forms); undefined when there is none. */
  async find(ref: string): Promise<ResolvedImage | undefined> {
    if (!ref) return undefined;
    return lookupImage(await this.listResolved(), ref);
  }

  /**
   * Makes sure each layer is a committed snapshot named by its chain id, with
   * the shared unpacker: the config blob then carries the snapshot GC label
   * that keeps the layers for as long as the image is recorded.
   */
  async ensureUnpacked(img: ResolvedImage): Promise<string> {
    if (img.layers.length !== img.diffIds.length) {
      throw errFailedPrecondition(
        `image ${img.id}: ${img.layers.length} layers but ${img.diffIds.length} diff ids`,
      );
    }
    const top = img.chainIds[img.chainIds.length - 1] ?? '';
    if (top) {
      try {
        await this.snapshotter.stat(CRI_NAMESPACE, top);
        return top;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    const r = await this.withLease((lease) =>
      unpackImage(img.manifest, this.unpackDeps(lease), { scope: `cri/${CRI_NAMESPACE}` }),
    );
    return r.chainId;
  }
}
