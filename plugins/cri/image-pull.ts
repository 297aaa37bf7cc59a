// PullImage in-process: resolve the reference through the registry hosts
// configured in `registry_config_path` (hosts.toml per registry, `_default` for
// any other, so mirrors serve registry.k8s.io or docker.io names), fetch the
// index, this host's manifest, its config and layers straight into the
// content store of k8s.io, record the image and unpack it with the shared
// unpacker, all under one lease so the collector takes nothing half-done.

import { BerthError, isAlreadyExists, isNotFound } from '../../core/errors/catalogue.js';
import type { AuthConfig } from '../../api/gen/cri/runtime/v1/api.js';
import { childGCLabels } from '../../core/images/oci/gc-labels.js';
import { isIndexType, isManifestType } from '../../core/images/oci/media-types.js';
import { type PlatformMatcher, defaultPlatformMatcher } from '../../core/images/oci/platform.js';
import {
  type Descriptor,
  MAX_MANIFEST_BYTES,
  parseIndex,
  parseManifest,
} from '../../core/images/oci/types.js';
import {
  type RegistryCredentials,
  Limiter,
  fetch,
  fetchManifestBytes,
  resolve,
} from '../../core/images/registry/index.js';
import { Repository } from '../../core/images/registry/repository.js';
import { unpackImage } from '../../core/images/unpack.js';
import { CRI_NAMESPACE, type CriImageStore } from './image-store.js';

const MAX_CONCURRENT_DOWNLOADS = 3;
const DISTRIBUTION_SOURCE_LABEL = 'containerd.io/distribution.source';
/** containerd's CRI marks the images it pulled; kept for tools that look for it. */
export const CRI_MANAGED_LABEL = 'io.cri-containerd.image';

export interface CriPullOptions {
  /** Directory of `<registry>/hosts.toml` files. */
  hostsDir: string;
  auth?: AuthConfig;
  signal?: AbortSignal;
}

export interface CriPulled {
  /** Fully qualified name the image is recorded under. */
  name: string;
  target: Descriptor;
  /** Top chain id of the unpacked layers. */
  chainId: string;
}

/** `host[:port]` of an auth config's server address (`https://host/v1/` → `host`). */
function serverHost(addr: string): string {
  return addr.replace(/^[a-z]+:\/\//i, '').split('/')[0]!;
}

/**
 * The kubelet's credentials for a registry host: username/password, the
 * base64 `auth` pair or an identity token. A config naming a server applies
 * to that host only; one naming none to every host of the pull (mirrors too).
 */
export function credentialsFrom(
  auth: AuthConfig | undefined,
): ((host: string) => RegistryCredentials | undefined) | undefined {
  if (!auth) return undefined;
  let username = auth.username;
  let secret = auth.password;
  if (auth.auth) {
    const pair = Buffer.from(auth.auth, 'base64').toString('utf8');
    const colon = pair.indexOf(':');
    if (colon < 0)
      throw new BerthError('InvalidArgument', 'auth.auth is not base64 of user:password');
    username = pair.slice(0, colon);
    secret = pair.slice(colon + 1);
  }
  if (auth.identityToken) secret = auth.identityToken;
  if (!username && !secret) return undefined;
  const only = auth.serverAddress ? serverHost(auth.serverAddress) : '';
  return (host) => (!only || only === host ? { username, secret } : undefined);
}

class Fetcher {
  private readonly limiter = new Limiter(MAX_CONCURRENT_DOWNLOADS);
  private readonly source: Record<string, string>;

  constructor(
    private readonly repo: Repository,
    private readonly store: CriImageStore,
    private readonly lease: string,
    private readonly platform: PlatformMatcher,
  ) {
    this.source = { [`${DISTRIBUTION_SOURCE_LABEL}.${repo.ref.domain}`]: repo.ref.path };
  }

  private async has(digest: string): Promise<boolean> {
    try {
      await this.store.content.info(CRI_NAMESPACE, digest);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Streams `data` into the content store as `desc`, with `labels`. */
  private async write(
    desc: Descriptor,
    data: AsyncIterable<Uint8Array>,
    labels: Record<string, string>,
  ): Promise<void> {
    const ref = `cri-pull-${desc.digest}`;
    let w;
    try {
      w = await this.store.content.writer(CRI_NAMESPACE, ref, {
        total: desc.size,
        expected: desc.digest,
        lease: this.lease,
      });
    } catch (err) {
      if (isAlreadyExists(err)) return; // a concurrent pull stored it first
      throw err;
    }
    try {
      if (w.offset > 0) await w.truncate(0); // a failed earlier attempt: start over
      for await (const chunk of data) await w.write(chunk);
      await w.commit(desc.size, desc.digest, { ...labels, ...this.source });
    } catch (err) {
      await w.close().catch(() => undefined);
      await this.store.content.abort(CRI_NAMESPACE, ref).catch(() => undefined);
      if (isAlreadyExists(err)) return;
      throw err;
    }
  }

  async walk(desc: Descriptor): Promise<void> {
    if (!isIndexType(desc.mediaType) && !isManifestType(desc.mediaType)) {
      await this.limiter.run(async () => {
        if (await this.has(desc.digest)) return;
        const { stream } = await fetch(this.repo, desc);
        await this.write(desc, stream, {});
      });
      return;
    }
    let data: Buffer;
    const stored = await this.has(desc.digest);
    if (stored) {
      const parts: Buffer[] = [];
      for await (const c of this.store.content.read(CRI_NAMESPACE, desc.digest)) parts.push(c.data);
      data = Buffer.concat(parts);
    } else {
      data = await this.limiter.run(() => fetchManifestBytes(this.repo, desc));
    }
    if (data.length > MAX_MANIFEST_BYTES) {
      throw new BerthError('InvalidArgument', `${desc.digest}: manifest larger than allowed`);
    }
    let children: Descriptor[];
    if (isIndexType(desc.mediaType)) {
      const index = parseIndex(data, desc.mediaType);
      const match = index.manifests.filter((m) => !m.platform || this.platform.match(m.platform));
      match.sort((a, b) =>
        a.platform && b.platform ? this.platform.compare(a.platform, b.platform) : 0,
      );
      if (match.length === 0) {
        throw new BerthError(
          'NotFound',
          `no manifest for platform ${this.platform} in index ${desc.digest}`,
        );
      }
      children = [match[0]!];
    } else {
      const m = parseManifest(data, desc.mediaType);
      children = [m.config, ...m.layers];
    }
    // The parent is written after its children, so a stored parent always has them.
    await Promise.all(children.map((c) => this.walk(c)));
    const labels = childGCLabels(children);
    if (stored) {
      await this.store.content.update(
        CRI_NAMESPACE,
        { digest: desc.digest, labels },
        Object.keys(labels).map((k) => `labels.${k}`),
      );
    } else {
      await this.write(
        desc,
        (async function* () {
          yield data;
        })(),
        labels,
      );
    }
  }
}

/** Pulls `ref` into k8s.io and unpacks it; an image already there is refreshed, not refetched. */
export async function pullImage(
  store: CriImageStore,
  ref: string,
  opts: CriPullOptions,
): Promise<CriPulled> {
  const repo = await Repository.open(ref, {
    hostsDir: opts.hostsDir,
    credentials: credentialsFrom(opts.auth),
    signal: opts.signal,
  });
  const platform = defaultPlatformMatcher();
  try {
    return await store.withLease(async (lease) => {
      const resolved = await resolve(repo);
      const target = {
        mediaType: resolved.descriptor.mediaType,
        digest: resolved.descriptor.digest,
        size: resolved.descriptor.size,
      };
      await new Fetcher(repo, store, lease, platform).walk(target);
      await store.putRecord(resolved.name, target, { [CRI_MANAGED_LABEL]: 'managed' });
      const u = await unpackImage(target, store.unpackDeps(lease), {
        platform,
        scope: `cri/${CRI_NAMESPACE}`,
        signal: opts.signal,
      });
      return { name: resolved.name, target, chainId: u.chainId };
    });
  } finally {
    repo.close();
  }
}
