// The CRI view of images in the k8s.io namespace: image records from the
// images service, manifests and configs from the content store, and the
// unpacked layer chain in the snapshotter (one committed snapshot per chain id,
// the layout containerd's unpacker produces).

import { createHash, randomBytes } from 'node:crypto';
import type { Image as PbImage } from '../../api/gen/containerd/services/images/v1/images.js';
import { errFailedPrecondition, errNotFound, isNotFound } from '../../api/errors.js';
import type { ImageConfig } from '../../api/oci/index.js';
import type { ContentMetadataStore } from '../content/index.js';
import { applyLayer } from '../diff/apply.js';
import type { ImagesLocal } from '../images/index.js';
import type { CallContext } from '../server/context.js';
import type { NamespacedSnapshotter } from '../snapshots/namespaced.js';

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
  /** The image id the CRI reports: the config digest. */
  id: string;
  manifestDigest: string;
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

export class CriImageStore {
  constructor(
    private readonly images: ImagesLocal,
    private readonly content: ContentMetadataStore,
    private readonly snapshotter: NamespacedSnapshotter,
  ) {}

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

  async record(name: string): Promise<PbImage | undefined> {
    try {
      return (await this.images.get({ name }, this.ctx())).image;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
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
      id: manifest.config.digest,
      manifestDigest: md.digest,
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
      if (have) have.names.push(rec.name);
      else byId.set(r.id, r);
    }
    return [...byId.values()];
  }

  /**
   * An image by name, by id (config digest, with or without `sha256:`), or by an
   * unambiguous id prefix; undefined when there is none.
   */
  async find(ref: string): Promise<ResolvedImage | undefined> {
    if (!ref) return undefined;
    for (const candidate of normalizedNames(ref)) {
      const rec = await this.record(candidate);
      if (rec) {
        const r = await this.resolveRecord(rec);
        return (await this.listResolved()).find((x) => x.id === r.id) ?? r;
      }
    }
    const all = await this.listResolved();
    const id = ref.startsWith('sha256:') ? ref : `sha256:${ref}`;
    const hits = all.filter((i) => i.id.startsWith(id) || i.names.includes(ref));
    return hits.length === 1 ? hits[0] : undefined;
  }

  /** Makes sure each layer is a committed snapshot named by its chain id. */
  async ensureUnpacked(img: ResolvedImage): Promise<string> {
    if (img.layers.length !== img.diffIds.length) {
      throw errFailedPrecondition(
        `image ${img.id}: ${img.layers.length} layers but ${img.diffIds.length} diff ids`,
      );
    }
    for (let i = 0; i < img.chainIds.length; i++) {
      const chain = img.chainIds[i]!;
      try {
        await this.snapshotter.stat(CRI_NAMESPACE, chain);
        continue;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      const parent = i === 0 ? '' : img.chainIds[i - 1]!;
      const key = `extract-${randomBytes(6).toString('hex')}-${chain}`;
      const mounts = await this.snapshotter.prepare(CRI_NAMESPACE, key, parent);
      try {
        const m = mounts[0];
        if (!m) throw errFailedPrecondition('snapshotter returned no mounts');
        const opt = (k: string) =>
          m.options.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
        const upper = m.type === 'overlay' ? opt('upperdir') : m.source;
        if (!upper) throw errFailedPrecondition(`cannot apply a layer onto a ${m.type} mount`);
        const lower =
          m.type === 'overlay' ? (opt('lowerdir') ?? '').split(':').filter(Boolean) : [];
        const layer = img.layers[i]!;
        await this.content.info(CRI_NAMESPACE, layer.digest);
        const res = await applyLayer(
          upper,
          (async function* (store) {
            for await (const c of store.read(layer.digest)) yield c.data;
          })(this.content.store),
          { overlayUpper: m.type === 'overlay', lowerDirs: lower },
        );
        if (res.diffId !== img.diffIds[i]) {
          throw errFailedPrecondition(
            `layer ${layer.digest}: content has diff id ${res.diffId}, config says ${img.diffIds[i]}`,
          );
        }
        await this.snapshotter.commit(CRI_NAMESPACE, chain, key);
      } catch (err) {
        await this.snapshotter.remove(CRI_NAMESPACE, key).catch(() => {});
        // Another unpack of the same image committed it first.
        if (
          await this.snapshotter.stat(CRI_NAMESPACE, chain).then(
            () => true,
            () => false,
          )
        )
          continue;
        throw err;
      }
    }
    return img.chainIds[img.chainIds.length - 1] ?? '';
  }
}

/** The names a user reference may be stored under (`busybox` → `docker.io/library/busybox:latest`). */
export function normalizedNames(ref: string): string[] {
  const out = [ref];
  let r = ref;
  const first = r.split('/')[0]!;
  const hasDomain =
    r.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasDomain) r = `docker.io/${r.includes('/') ? r : `library/${r}`}`;
  const last = r.slice(r.lastIndexOf('/') + 1);
  if (!r.includes('@') && !last.includes(':')) r = `${r}:latest`;
  if (r !== ref) out.push(r);
  return out;
}
