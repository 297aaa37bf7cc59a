// Images as the client sees them: a record plus what its content says
// (platforms, size, config, chain ID), and containers made from an image on a
// new snapshot of it.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isNotFound } from '../core/errors/catalogue.js';
import {
  generateDefaultSpec,
  type ImageConfig,
  parseNumericUser,
  type ResolvedUser,
  resolveUser,
  type SpecOpt,
  withImageConfig,
} from '../core/oci/index.js';
import { defaultPlatformMatcher, type PlatformMatcher } from '../core/images/oci/platform.js';
import {
  childrenOf,
  platformsOf,
  resolveImage,
  type ResolvedImage,
} from '../core/images/oci/resolve.js';
import { type Descriptor, type Platform } from '../core/images/oci/types.js';
import { isIndexType } from '../core/images/oci/media-types.js';
import { normalizeReference } from '../core/images/registry/reference.js';
import type { Client } from './client.js';
import type { ContainerHandle, NewContainerOptions } from './container.js';
import { contentOf } from './image-deps.js';
import type { Image } from './images.js';
import { withLease } from './leased.js';
import { unpackWith } from './unpack.js';

export class ClientImage {
  constructor(
    private readonly client: Client,
    readonly record: Image,
  ) {}

  get name(): string {
    return this.record.name;
  }

  get target(): Descriptor {
    const t = this.record.target!;
    return {
      mediaType: t.mediaType,
      digest: t.digest,
      size: Number(t.size),
      annotations: t.annotations ?? {},
    };
  }

  /** Manifest, config and chain IDs for the platform (default: this host's). */
  resolve(platform: PlatformMatcher = defaultPlatformMatcher()): Promise<ResolvedImage> {
    return resolveImage(contentOf(this.client), this.target, platform);
  }

  /** Every platform the image offers. */
  platforms(): Promise<Platform[]> {
    return platformsOf(contentOf(this.client), this.target);
  }

  /**
   * Bytes of the content the image refers to for the platform (manifest,
   * config, layers; the index too), as `ctr images ls` reports SIZE.
   */
  async size(platform: PlatformMatcher = defaultPlatformMatcher()): Promise<number> {
    const content = contentOf(this.client);
    let total = 0;
    const walk = async (d: Descriptor): Promise<void> => {
      total += d.size;
      for (const c of await childrenOf(
        content,
        d,
        isIndexType(d.mediaType) ? platform : undefined,
      )) {
        await walk(c);
      }
    };
    await walk(this.target);
    return total;
  }
}

/**
 * A named image user (`nobody`, `app:staff`) looked up in the image's own
 * /etc/passwd and /etc/group, through a short-lived read-only view of the
 * unpacked image mounted on this host (as containerd's client does).
 */
async function resolveImageUser(
  leased: Client,
  snapshotter: string,
  chainId: string,
  user: string,
): Promise<ResolvedUser> {
  const { mountAll, unmountAll } = await import('../core/mount/index.js');
  const sn = leased.snapshots(snapshotter);
  const key = `user-view-${randomBytes(6).toString('hex')}`;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-user-'));
  try {
    const mounts = await sn.view(key, chainId);
    mountAll(
      mounts.map((m) => ({ type: m.type, source: m.source, options: m.options })),
      dir,
    );
    try {
      return await resolveUser(dir, user);
    } finally {
      unmountAll(dir);
    }
  } finally {
    await sn.remove(key).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/** The image record `name`, tried as given and then fully qualified (`busybox` → docker.io/library/busybox:latest). */
export async function getImage(client: Client, name: string): Promise<ClientImage> {
  try {
    return new ClientImage(client, await client.images.get(name));
  } catch (err) {
    if (!isNotFound(err)) throw err;
    let full: string;
    try {
      full = normalizeReference(name);
    } catch {
      throw err;
    }
    if (full === name) throw err;
    try {
      return new ClientImage(client, await client.images.get(full));
    } catch {
      throw err;
    }
  }
}

export async function listImages(client: Client, ...filters: string[]): Promise<ClientImage[]> {
  return (await client.images.list(...filters)).map((i) => new ClientImage(client, i));
}

export interface NewContainerFromImageOptions extends Omit<
  NewContainerOptions,
  'spec' | 'image' | 'snapshotter' | 'snapshotKey'
> {
  image: ClientImage;
  /** Default: the client's default snapshotter (BERTH_SNAPSHOTTER or overlayfs). */
  snapshotter?: string;
  /** Snapshot key of the container's rootfs; default the container id. */
  snapshotKey?: string;
  platform?: PlatformMatcher;
  /** Applied after the image config (so they override it). */
  specOpts?: SpecOpt[];
}

/**
 * Creates a container running on a new snapshot of `image`: unpacked first
 * if needed, a snapshot prepared on its top chain ID, a spec from the image
 * config, and the container record naming the snapshot, so a task created
 * without rootfs mounts runs on it. On failure the snapshot is removed.
 */
export async function newContainerFromImage(
  client: Client,
  o: NewContainerFromImageOptions,
): Promise<ContainerHandle> {
  const snapshotter = client.snapshots(o.snapshotter).snapshotter;
  const key = o.snapshotKey ?? o.id;
  return withLease(client, async (leased) => {
    const u = await unpackWith(leased, o.image.target, { snapshotter, platform: o.platform });
    const cfg = u.image.config.config ?? {};
    const imageConfig: ImageConfig = {
      Env: cfg.Env,
      Cmd: cfg.Cmd,
      Entrypoint: cfg.Entrypoint,
      WorkingDir: cfg.WorkingDir,
      User: cfg.User,
    };
    const user =
      imageConfig.User && !parseNumericUser(imageConfig.User)
        ? await resolveImageUser(leased, snapshotter, u.chainId, imageConfig.User)
        : undefined;
    const spec = generateDefaultSpec({ id: o.id, namespace: client.namespace }, [
      withImageConfig(imageConfig, { user }),
      ...(o.specOpts ?? []),
    ]);
    await leased.snapshots(snapshotter).prepare(key, u.chainId);
    try {
      return await client.newContainer({
        ...o,
        spec: spec as unknown as Record<string, unknown>,
        image: o.image.name,
        snapshotter,
        snapshotKey: key,
      });
    } catch (err) {
      await client
        .snapshots(snapshotter)
        .remove(key)
        .catch(() => undefined);
      throw err;
    }
  });
}
