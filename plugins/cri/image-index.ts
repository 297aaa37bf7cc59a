// The CRI's in-memory view of the images in k8s.io: for each image (by config
// digest) its names, what each name points at, the manifest for this host,
// the config fields a container needs, chain IDs, size and the CRI message.
// Built at start from the image records, kept current by the exchange's image
// events (whoever changed the record: the CRI, ctr, the Images service) and,
// synchronously, by the CRI's own pulls and removes. ImageStatus, ListImages
// and container creation then cost a map lookup; blobs are read only when a
// record changes.

import type { Logger } from 'pino';
import { ImageCreate, ImageDelete, ImageUpdate } from '../../api/gen/containerd/events/image.js';
import type { Image } from '../../api/gen/cri/runtime/v1/api.js';
import { isNotFound } from '../../core/errors/catalogue.js';
import type { Envelope } from '../../core/events/envelope.js';
import type { Exchange } from '../../core/events/exchange.js';
import type { Subscription } from '../../core/events/subscription.js';
import type { PlatformMatcher } from '../../core/images/oci/platform.js';
import { type BlobSource, resolveImage } from '../../core/images/oci/resolve.js';
import type { Descriptor, ImageRuntimeConfig } from '../../core/images/oci/types.js';
import { KeyedMutex } from '../../core/metadata/keyed-mutex.js';
import { parseNumericUser, type ResolvedUser } from '../../core/oci/index.js';
import { stripPrefix } from '../../core/protobuf/typeurl.js';
import { type ImageCatalog, type LookupImage, catalogOf, lookupImage } from './image-lookup.js';

/** containerd's label for images the kubelet must not garbage-collect (the sandbox image). */
export const PINNED_LABEL = 'io.cri-containerd.pinned';
export const PINNED_VALUE = 'pinned';

export interface CriImage extends LookupImage {
  /** The manifest for this host: where unpacking starts. */
  manifest: Descriptor;
  /** The config's runtime part: env, entrypoint, cmd, user, working dir, stop signal. */
  config: ImageRuntimeConfig;
  /** chainIds[i] names the snapshot of layers 0..i. */
  chainIds: string[];
  /** Config and layers as stored (compressed). */
  size: number;
  /** The runtime.v1 Image message. */
  cri: Image;
  /**
   * Users already resolved against this image's /etc/passwd and /etc/group,
   * by user string: a new container's rootfs is the image's layers, so one
   * lookup per image and user does. Shared by images with the same layers.
   */
  users: Map<string, ResolvedUser>;
}

/** An image record as the index reads it. */
export interface IndexedRecord {
  name: string;
  target: Descriptor;
  labels: Record<string, string>;
}

export interface ImageIndexDeps {
  /** The record of `name`; NotFound when there is none. */
  get(name: string): Promise<IndexedRecord>;
  /** Every record's name. */
  names(): Promise<string[]>;
  /** The namespace's content, for manifests and configs. */
  content: BlobSource;
  platform: PlatformMatcher;
  log: Pick<Logger, 'warn' | 'debug'>;
}

/** What a record's target resolves to; content-addressed, so cached by target digest. */
interface Resolution {
  id: string;
  manifest: Descriptor;
  config: ImageRuntimeConfig;
  chainIds: string[];
  size: number;
}

interface Entry {
  target: string;
  labels: Record<string, string>;
  /** Undefined while the content is not (fully) there: the record is not listed then. */
  resolution: Resolution | undefined;
}

/** Image events of k8s.io, by topic, with the decoder of their payload. */
const DECODERS: Record<string, { decode(b: Uint8Array): { name: string } }> = {
  '/images/create': ImageCreate,
  '/images/update': ImageUpdate,
  '/images/delete': ImageDelete,
};

/** The image name an event is about, or undefined for anything else. */
export function imageEventName(e: Pick<Envelope, 'topic' | 'event'>): string | undefined {
  const dec = DECODERS[e.topic];
  if (!dec || !stripPrefix(e.event.typeUrl).startsWith('containerd.services.images.v1.'))
    return undefined;
  return dec.decode(e.event.value).name || undefined;
}

/** `name:tag` references are what RepoTags lists; digests go to RepoDigests. */
function isDigestRef(name: string): boolean {
  return name.includes('@');
}

/** Strips the tag or digest: `docker.io/library/busybox:1.36` → `docker.io/library/busybox`. */
function repository(name: string): string {
  const at = name.indexOf('@');
  if (at >= 0) return name.slice(0, at);
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  return colon > slash ? name.slice(0, colon) : name;
}

function criMessage(img: Omit<CriImage, 'cri' | 'users'>, labels: Record<string, string>[]): Image {
  // What each name was recorded at (an index for multi-platform pulls), as containerd reports it.
  const digests = [
    ...new Set(img.names.map((n) => `${repository(n)}@${img.targets[n] ?? img.manifestDigest}`)),
  ];
  const user = (img.config.User ?? '').split(':')[0]!;
  const numeric = user ? parseNumericUser(user) : undefined;
  return {
    id: img.id,
    repoTags: img.names.filter((n) => !isDigestRef(n)),
    repoDigests: digests,
    size: BigInt(img.size),
    uid: numeric ? { value: BigInt(numeric.uid) } : undefined,
    username: numeric ? '' : user,
    spec: {
      image: img.id,
      annotations: {},
      userSpecifiedImage: '',
      runtimeHandler: '',
      imageRef: img.id,
    },
    pinned: labels.some((l) => l[PINNED_LABEL] === PINNED_VALUE),
  };
}

export class CriImageIndex {
  private readonly entries = new Map<string, Entry>();
  private readonly resolutions = new Map<string, Resolution>();
  /** CriImage.users, by top chain ID. */
  private readonly users = new Map<string, Map<string, ResolvedUser>>();
  /** Per name, so the last read of a record is the one applied. */
  private readonly lock = new KeyedMutex();
  private catalog: ImageCatalog<CriImage> = catalogOf([]);
  /** The image events subscription while watching, and how many of its events are applied. */
  private sub: Subscription | undefined;
  private handled = 0;
  private waiters: { target: number; resolve: () => void }[] = [];

  constructor(private readonly d: ImageIndexDeps) {}

  /** Every usable image. */
  list(): readonly CriImage[] {
    return this.catalog.all;
  }

  /** The image a CRI reference names (see lookupImage for the forms), or undefined. */
  find(ref: string): CriImage | undefined {
    return lookupImage(this.catalog, ref);
  }

  /** Re-reads the record `name` (and its content when its target changed). */
  refresh(name: string): Promise<void> {
    return this.lock.run(name, async () => {
      let rec: IndexedRecord | undefined;
      try {
        rec = await this.d.get(name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      if (!rec) {
        if (this.entries.delete(name)) this.rebuild();
        return;
      }
      const resolution = await this.resolve(rec.name, rec.target);
      this.entries.set(name, { target: rec.target.digest, labels: rec.labels, resolution });
      this.rebuild();
    });
  }

  /** Reads every record, and forgets those that are gone. */
  async load(): Promise<void> {
    const names = new Set([...(await this.d.names()), ...this.entries.keys()]);
    for (const n of names) await this.refresh(n);
  }

  /**
   * Resolves once every image event published so far is applied: a change
   * another client made before a CRI call is seen by that call. Undefined
   * (nothing to wait for) when the index is current.
   */
  settled(): Promise<void> | undefined {
    const sub = this.sub;
    if (!sub || (sub.active && this.handled >= sub.received)) return undefined;
    // A dropped subscription missed events: wait for the reload that replaces it.
    const target = sub.active ? sub.received : Infinity;
    return new Promise((resolve) => this.waiters.push({ target, resolve }));
  }

  /** Wakes the settled() callers whose events are applied (all of them with `all`). */
  private wake(all = false): void {
    const waiting = this.waiters;
    this.waiters = waiting.filter((w) => !all && w.target > this.handled);
    for (const w of waiting) if (all || w.target <= this.handled) w.resolve();
  }

  /**
   * Loads the index and keeps it current from `exchange` until the returned
   * close. A subscription dropped for falling behind is replaced and the
   * index reloaded, so no change is missed.
   */
  async watch(exchange: Exchange, namespace: string): Promise<{ close(): Promise<void> }> {
    const filter = `namespace==${JSON.stringify(namespace)},topic~="^/images/"`;
    let closed = false;
    const subscribe = async () => {
      this.sub = exchange.subscribe([filter]);
      this.handled = 0;
      await this.load(); // what changed before the subscription
      this.wake(true);
    };
    await subscribe();
    const consume = async () => {
      for (;;) {
        try {
          for await (const e of this.sub!) {
            const name = imageEventName(e);
            if (name) {
              await this.refresh(name).catch((err) =>
                this.d.log.warn(
                  { err, image: name },
                  'CRI image index: refreshing an image failed',
                ),
              );
            }
            this.handled++;
            this.wake();
          }
          return; // closed: the plugin or the exchange is shutting down
        } catch (err) {
          if (closed) return;
          this.d.log.warn({ err }, 'CRI image index: events subscription dropped; reloading');
        }
        try {
          await subscribe();
        } catch (err) {
          this.d.log.warn({ err }, 'CRI image index: cannot resubscribe to image events');
          return;
        }
      }
    };
    const consuming = consume().finally(() => {
      this.sub = undefined;
      this.wake(true);
    });
    return {
      close: async () => {
        closed = true;
        this.sub?.close();
        await consuming;
      },
    };
  }

  private async resolve(name: string, target: Descriptor): Promise<Resolution | undefined> {
    const have = this.resolutions.get(target.digest);
    if (have) return have;
    try {
      const r = await resolveImage(this.d.content, target, this.d.platform);
      const m = r.manifest;
      const resolution: Resolution = {
        id: m.config.digest,
        manifest: {
          mediaType: r.manifestDesc.mediaType,
          digest: r.manifestDesc.digest,
          size: r.manifestDesc.size,
        },
        config: r.config.config ?? {},
        chainIds: r.chainIds,
        size: m.config.size + m.layers.reduce((n, l) => n + l.size, 0),
      };
      this.resolutions.set(target.digest, resolution);
      return resolution;
    } catch (err) {
      // Content not (fully) there yet, or not for this platform: not usable, not listed.
      this.d.log.debug({ err, image: name }, 'CRI image index: image not usable');
      return undefined;
    }
  }

  /** Regroups the records by image and swaps in a new catalog. */
  private rebuild(): void {
    const groups = new Map<
      string,
      { r: Resolution; names: string[]; targets: Record<string, string>; labels: Entry['labels'][] }
    >();
    for (const [name, e] of [...this.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const r = e.resolution;
      if (!r) continue;
      let g = groups.get(r.id);
      if (!g) groups.set(r.id, (g = { r, names: [], targets: {}, labels: [] }));
      g.names.push(name);
      g.targets[name] = e.target;
      g.labels.push(e.labels);
    }
    const images: CriImage[] = [];
    for (const { r, names, targets, labels } of groups.values()) {
      const img = {
        id: r.id,
        names,
        targets,
        manifestDigest: r.manifest.digest,
        manifest: r.manifest,
        config: r.config,
        chainIds: r.chainIds,
        size: r.size,
      };
      const top = r.chainIds.at(-1) ?? '';
      let users = this.users.get(top);
      if (!users) this.users.set(top, (users = new Map()));
      images.push({ ...img, cri: criMessage(img, labels), users });
    }
    this.catalog = catalogOf(images);
    const used = new Set([...this.entries.values()].map((e) => e.target));
    for (const digest of this.resolutions.keys())
      if (!used.has(digest)) this.resolutions.delete(digest);
    const chains = new Set(images.map((i) => i.chainIds.at(-1) ?? ''));
    for (const top of this.users.keys()) if (!chains.has(top)) this.users.delete(top);
  }
}
