// The CRI's images in the k8s.io namespace: records through the images
// service, pulls with the one pull walker (core/images/pull.ts) into the local
// content store, unpacking with the shared unpacker into the snapshotter (one
// committed snapshot per chain ID, the layout containerd's unpacker makes),
// and the in-memory index every lookup goes through.

import type { AuthConfig } from '../../api/gen/cri/runtime/v1/api.js';
import { errInternal, isAlreadyExists, isNotFound } from '../../core/errors/catalogue.js';
import { localImageContent } from '../../core/images/local-content.js';
import { defaultPlatformMatcher } from '../../core/images/oci/platform.js';
import type { Descriptor } from '../../core/images/oci/types.js';
import { pullImage, registrySource } from '../../core/images/pull.js';
import { observePull } from '../../core/images/pull-channel.js';
import { formatReference, normalizeReference } from '../../core/images/registry/reference.js';
import { Repository } from '../../core/images/registry/repository.js';
import { type UnpackDeps, unpackImage } from '../../core/images/unpack.js';
import type { Exchange } from '../../core/events/exchange.js';
import { LEASE_EXPIRE_LABEL, type LeaseStore } from '../../core/metadata/leases.js';
import type { ContentMetadataStore } from '../content/index.js';
import type { DiffLocal } from '../diff/service.js';
import type { ImagesLocal } from '../images/index.js';
import type { CallContext } from '../server/context.js';
import type { NamespacedSnapshotter } from '../snapshots/namespaced.js';
import { credentialsFrom } from './image-auth.js';
import { type CriImage, CriImageIndex, PINNED_LABEL, PINNED_VALUE } from './image-index.js';

export const CRI_NAMESPACE = 'k8s.io';
/** containerd's CRI marks the images it pulled; kept for tools that look for it. */
export const CRI_MANAGED_LABEL = 'io.cri-containerd.image';

export interface CriImageStoreDeps {
  images: ImagesLocal;
  content: ContentMetadataStore;
  snapshotter: NamespacedSnapshotter;
  /** The snapshotter's name, for the GC label that keeps an image's snapshots. */
  snapshotterName: string;
  leases: LeaseStore;
  diff: DiffLocal;
  /** The pod sandbox image, pinned when pulled (the kubelet never collects it). */
  sandboxImage: string;
  log: ConstructorParameters<typeof CriImageIndex>[0]['log'];
}

export interface CriPullOptions {
  /** Directory of `<registry>/hosts.toml` files. */
  hostsDir: string;
  auth?: AuthConfig;
  signal?: AbortSignal;
}

/** Work that makes content or snapshots runs under a lease this long at most. */
const WORK_LEASE_MS = 60 * 60 * 1000;
const platform = defaultPlatformMatcher();

export class CriImageStore {
  readonly index: CriImageIndex;
  /** Work leases being deleted in the background (see withLease). */
  private readonly endingLeases = new Set<Promise<void>>();

  constructor(readonly d: CriImageStoreDeps) {
    this.index = new CriImageIndex({
      get: async (name) => {
        const { image } = await d.images.get({ name }, this.ctx());
        if (!image?.target) throw errInternal(`image ${name} has no target`);
        return { name: image.name, target: image.target, labels: image.labels };
      },
      names: async () =>
        (await d.images.list({ filters: [] }, this.ctx())).images.map((i) => i.name),
      content: localImageContent(d.content, CRI_NAMESPACE),
      platform,
      log: d.log,
    });
  }

  /**
   * Loads the index and keeps it current from the image events of k8s.io
   * until close, which also waits for the work leases still being deleted.
   */
  async watch(exchange: Exchange): Promise<{ close(): Promise<void> }> {
    const watching = await this.index.watch(exchange, CRI_NAMESPACE);
    return {
      close: async () => {
        await watching.close();
        await Promise.all(this.endingLeases);
      },
    };
  }

  private ctx(): CallContext {
    return { namespace: CRI_NAMESPACE, signal: new AbortController().signal };
  }

  private isSandboxImage(repo: Repository): boolean {
    try {
      return formatReference(repo.ref) === normalizeReference(this.d.sandboxImage);
    } catch {
      return false; // a sandbox_image that is no reference names nothing pullable
    }
  }

  /**
   * The image a CRI reference names; undefined when there is none. Image
   * changes other clients made before this call are seen.
   */
  async find(ref: string): Promise<CriImage | undefined> {
    await this.index.settled();
    return this.index.find(ref);
  }

  /** Every usable image, as find sees them. */
  async list(): Promise<readonly CriImage[]> {
    await this.index.settled();
    return this.index.list();
  }

  /**
   * Runs `fn` under a new lease in k8s.io, so the collector leaves what it
   * makes alone until a record refers to it. The lease is deleted afterwards,
   * in the background unless `wait`: once `fn` is done a record holds what it
   * made, so the caller need not wait for that (close does).
   */
  async withLease<T>(fn: (lease: string) => Promise<T>, opts: { wait?: boolean } = {}): Promise<T> {
    const lease = await this.d.leases.create(CRI_NAMESPACE, {
      labels: { [LEASE_EXPIRE_LABEL]: new Date(Date.now() + WORK_LEASE_MS).toISOString() },
    });
    try {
      return await fn(lease.id);
    } finally {
      const ending: Promise<void> = this.d.leases
        .delete(CRI_NAMESPACE, lease.id)
        .catch((err) =>
          this.d.log.warn({ err, lease: lease.id }, 'CRI: deleting a work lease failed'),
        )
        .finally(() => this.endingLeases.delete(ending));
      this.endingLeases.add(ending);
      if (opts.wait) await ending;
    }
  }

  /** The shared unpacker's storage over the local stores, taking everything under `lease`. */
  private unpackDeps(lease: string): UnpackDeps {
    const sn = this.d.snapshotter;
    const diff = this.d.diff;
    return {
      content: localImageContent(this.d.content, CRI_NAMESPACE, {
        id: lease,
        leases: this.d.leases,
      }),
      snapshots: {
        name: this.d.snapshotterName,
        keep: (key) =>
          this.d.leases.addResource(CRI_NAMESPACE, lease, {
            id: key,
            type: `snapshots/${this.d.snapshotterName}`,
          }),
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
            { ...this.ctx(), signal: signal ?? this.ctx().signal },
          );
          return { digest: r.applied?.digest ?? '', size: Number(r.applied?.size ?? 0) };
        },
      },
    };
  }

  /** Records `name` → `target`, replacing the target (and these labels) of an existing record. */
  private async putRecord(
    name: string,
    target: Descriptor,
    labels: Record<string, string>,
  ): Promise<void> {
    const image = {
      name,
      labels,
      target: {
        mediaType: target.mediaType,
        digest: target.digest,
        size: target.size,
        annotations: {},
        urls: [],
      },
      createdAt: undefined,
      updatedAt: undefined,
    };
    try {
      await this.d.images.create({ image }, this.ctx());
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      await this.d.images.update(
        { image, updateMask: ['target', ...Object.keys(labels).map((k) => `labels.${k}`)] },
        this.ctx(),
      );
    }
  }

  /**
   * Pulls `ref` into k8s.io through the configured registry hosts, records
   * and unpacks it; content already stored is not fetched again. The index
   * has the image when this returns.
   */
  pull(ref: string, opts: CriPullOptions): Promise<CriImage> {
    return observePull(ref, () => this.pullOnce(ref, opts));
  }

  private async pullOnce(ref: string, opts: CriPullOptions): Promise<CriImage> {
    const repo = await Repository.open(ref, {
      hostsDir: opts.hostsDir,
      credentials: credentialsFrom(opts.auth),
      signal: opts.signal,
    });
    let name: string;
    try {
      name = await this.withLease(
        async (lease) => {
          const content = localImageContent(this.d.content, CRI_NAMESPACE, {
            id: lease,
            leases: this.d.leases,
          });
          const r = await pullImage(
            registrySource(repo),
            {
              content,
              images: { put: (rec) => this.putRecord(rec.name, rec.target, rec.labels) },
            },
            {
              platform,
              labels: {
                [CRI_MANAGED_LABEL]: 'managed',
                ...(this.isSandboxImage(repo) ? { [PINNED_LABEL]: PINNED_VALUE } : {}),
              },
              signal: opts.signal,
            },
          );
          await unpackImage(r.target, this.unpackDeps(lease), {
            platform,
            scope: `cri/${CRI_NAMESPACE}`,
            signal: opts.signal,
          });
          return r.name;
        },
        { wait: true },
      ); // a pull leaves nothing behind when it answers
    } finally {
      repo.close();
    }
    await this.index.refresh(name);
    const img = this.index.find(name);
    if (!img) throw errInternal(`image ${name} was pulled but cannot be read back`);
    return img;
  }

  /** Removes every name of the image; the index forgets it before this returns. */
  async remove(img: CriImage): Promise<void> {
    for (const name of img.names) {
      try {
        await this.d.images.delete({ name, sync: false }, this.ctx());
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      await this.index.refresh(name);
    }
  }

  /**
   * Makes sure each layer is a committed snapshot named by its chain ID, with
   * the shared unpacker: the config blob then carries the snapshot GC label
   * that keeps the layers for as long as the image is recorded.
   */
  async ensureUnpacked(img: CriImage): Promise<string> {
    const top = img.chainIds.at(-1) ?? '';
    if (top) {
      try {
        await this.d.snapshotter.stat(CRI_NAMESPACE, top);
        return top;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    const r = await this.withLease((lease) =>
      unpackImage(img.manifest, this.unpackDeps(lease), {
        platform,
        scope: `cri/${CRI_NAMESPACE}`,
      }),
    );
    return r.chainId;
  }
}
