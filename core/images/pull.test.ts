import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BerthError,
  errAlreadyExists,
  errNotFound,
  errUnavailable,
  isBerthError,
} from '../errors/catalogue.js';
import { Label, MediaType } from './oci/media-types.js';
import { onlyPlatform } from './oci/platform.js';
import type { Descriptor, Platform } from './oci/types.js';
import {
  type ImageRecord,
  type PullContent,
  type PullSource,
  ingestRef,
  pullImage,
} from './pull.js';

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const amd64 = onlyPlatform({ os: 'linux', architecture: 'amd64' });
const fastRetry = { attempts: 4, baseDelayMs: 1, jitter: 0 };

/** A registry in memory: documents and blobs by digest, one tag. */
function registry() {
  const blobs = new Map<string, Buffer>();
  const fetches: string[] = [];
  /** Per digest, failures to throw before serving it. */
  const failures = new Map<string, Error[]>();
  let root: Descriptor | undefined;
  const put = (mediaType: string, data: Buffer | object, platform?: Platform): Descriptor => {
    const b = Buffer.isBuffer(data) ? data : Buffer.from(JSON.stringify(data));
    const d: Descriptor = { mediaType, digest: digestOf(b), size: b.length };
    if (platform) d.platform = platform;
    blobs.set(d.digest, b);
    return d;
  };
  const serve = (d: Descriptor): Buffer => {
    fetches.push(d.digest);
    const fail = failures.get(d.digest)?.shift();
    if (fail) throw fail;
    const b = blobs.get(d.digest);
    if (!b) throw errNotFound(`${d.digest} not on the registry`);
    return b;
  };
  const source: PullSource = {
    domain: 'registry.test',
    path: 'library/app',
    resolve: async () => ({ name: 'registry.test/library/app:1', descriptor: root! }),
    fetchManifest: async (d) => serve(d),
    fetchBlob: async (d) => {
      const b = serve(d);
      return (async function* () {
        yield b;
      })();
    },
  };
  /** A manifest of `layers` (strings) and a config naming them. */
  const image = (layers: string[], platform?: Platform): Descriptor => {
    const ls = layers.map((l) => put(MediaType.OCILayer, Buffer.from(l)));
    const config = put(MediaType.OCIConfig, {
      architecture: platform?.architecture ?? 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: ls.map((l) => l.digest) },
    });
    return put(MediaType.OCIManifest, { schemaVersion: 2, config, layers: ls }, platform);
  };
  const index = (manifests: Descriptor[]) =>
    put(MediaType.OCIIndex, { schemaVersion: 2, manifests });
  return {
    source,
    fetches,
    failures,
    image,
    index,
    setRoot: (d: Descriptor) => (root = d),
  };
}

/** A content store in memory with the local store's ingest lock. */
function store() {
  const blobs = new Map<string, { data: Buffer; labels: Record<string, string> }>();
  const locked = new Set<string>();
  const commits: string[] = [];
  const kept: string[] = [];
  const offsets = new Map<string, number>();
  const content: PullContent = {
    readBlob: async (d) => {
      const b = blobs.get(d);
      if (!b) throw errNotFound(`content ${d}`);
      return b.data;
    },
    labels: async (d) => {
      const b = blobs.get(d);
      if (!b) throw errNotFound(`content ${d}`);
      return { ...b.labels };
    },
    setLabels: async (d, l) => {
      const b = blobs.get(d)!;
      b.labels = { ...b.labels, ...l };
    },
    keep: async (d) => void kept.push(d),
    ingestOffset: async (ref) => offsets.get(ref),
    write: async (ref, desc, data, labels) => {
      if (blobs.has(desc.digest)) return false;
      if (locked.has(ref)) throw errUnavailable(`ref ${ref} locked`);
      locked.add(ref);
      try {
        const parts: Buffer[] = [];
        for await (const c of data()) parts.push(Buffer.from(c));
        const b = Buffer.concat(parts);
        if (digestOf(b) !== desc.digest || b.length !== desc.size)
          throw new BerthError('FailedPrecondition', `unexpected commit digest for ${desc.digest}`);
        if (blobs.has(desc.digest)) throw errAlreadyExists(`content ${desc.digest}`);
        blobs.set(desc.digest, { data: b, labels: { ...labels } });
        commits.push(desc.digest);
        return true;
      } finally {
        locked.delete(ref);
      }
    },
  };
  const records: ImageRecord[] = [];
  const images = { put: async (r: ImageRecord) => void records.push(r) };
  return { content, images, blobs, locked, commits, kept, offsets, records };
}

describe('pullImage', () => {
  it('writes children before their parents, parents with gc.ref labels, the record last', async () => {
    const reg = registry();
    const m = reg.image(['base', 'app'], { os: 'linux', architecture: 'amd64' });
    const idx = reg.setRoot(reg.index([m]));
    const s = store();
    const r = await pullImage(reg.source, s, { platform: amd64 });

    const manifest = JSON.parse(s.blobs.get(m.digest)!.data.toString()) as {
      config: Descriptor;
      layers: Descriptor[];
    };
    const children = [manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
    expect(s.commits.slice(0, 3).sort()).toEqual([...children].sort());
    expect(s.commits.slice(3)).toEqual([m.digest, idx.digest]);
    expect(s.blobs.get(m.digest)!.labels).toMatchObject({
      [`${Label.GCRefContent}.config`]: manifest.config.digest,
      [`${Label.GCRefContent}.l.0`]: manifest.layers[0]!.digest,
      [`${Label.GCRefContent}.l.1`]: manifest.layers[1]!.digest,
      'containerd.io/distribution.source.registry.test': 'library/app',
    });
    expect(s.blobs.get(idx.digest)!.labels[`${Label.GCRefContent}.m.0`]).toBe(m.digest);
    expect(r).toMatchObject({ name: 'registry.test/library/app:1', fetched: 5 });
    expect(s.records).toEqual([{ name: 'registry.test/library/app:1', target: idx, labels: {} }]);

    // Pulled again: nothing fetched but the index, everything kept under the new lease.
    const before = reg.fetches.length;
    const again = await pullImage(reg.source, s, { platform: amd64 });
    expect(again.fetched).toBe(0);
    expect(reg.fetches.length).toBe(before);
    expect(new Set(s.kept)).toEqual(new Set([...children, m.digest, idx.digest]));
  });

  it('retries transfers that fail midway and fails on what is not transient', async () => {
    const reg = registry();
    const m = reg.setRoot(reg.image(['one']));
    const manifest = JSON.parse((await reg.source.fetchManifest(m)).toString()) as {
      layers: Descriptor[];
    };
    reg.fetches.length = 0;
    const layer = manifest.layers[0]!.digest;
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    reg.failures.set(layer, [reset, new BerthError('DataLoss', 'connection ended early')]);
    reg.failures.set(m.digest, [reset]);
    const s = store();
    await pullImage(reg.source, s, { platform: amd64, retry: fastRetry });
    expect(reg.fetches.filter((d) => d === layer)).toHaveLength(3);
    expect(reg.fetches.filter((d) => d === m.digest)).toHaveLength(2);
    expect(s.records).toHaveLength(1);

    const reg2 = registry();
    const m2 = reg2.setRoot(reg2.image(['two']));
    reg2.failures.set(m2.digest, [new BerthError('PermissionDenied', 'denied')]);
    const s2 = store();
    const err = await pullImage(reg2.source, s2, { platform: amd64, retry: fastRetry }).catch(
      (e: unknown) => e,
    );
    expect(isBerthError(err, 'PermissionDenied')).toBe(true);
    expect(reg2.fetches).toHaveLength(1);
    expect(s2.records).toEqual([]);
  });

  it('waits for another writer of a blob and uses what it commits', async () => {
    const reg = registry();
    const m = reg.setRoot(reg.image(['shared']));
    const layerDesc = (
      JSON.parse((await reg.source.fetchManifest(m)).toString()) as { layers: Descriptor[] }
    ).layers[0]!;
    reg.fetches.length = 0;
    const s = store();
    // Another pull holds the layer's ingest and makes progress, then commits.
    const ref = ingestRef(layerDesc);
    s.locked.add(ref);
    let polls = 0;
    s.content.ingestOffset = async () => {
      polls++;
      if (polls === 3) {
        s.locked.delete(ref);
        s.blobs.set(layerDesc.digest, { data: Buffer.from('shared'), labels: {} });
        return undefined;
      }
      return polls;
    };
    const r = await pullImage(reg.source, s, { platform: amd64 });
    expect(reg.fetches).not.toContain(layerDesc.digest);
    expect(s.kept).toContain(layerDesc.digest);
    expect(s.blobs.get(layerDesc.digest)!.labels).toMatchObject({
      'containerd.io/distribution.source.registry.test': 'library/app',
    });
    expect(r.fetched).toBe(2); // manifest and config
  });

  it('takes over from a writer that gave up, and gives up on one that stopped moving', async () => {
    const reg = registry();
    const m = reg.setRoot(reg.image(['layer']));
    const layerDesc = (
      JSON.parse((await reg.source.fetchManifest(m)).toString()) as { layers: Descriptor[] }
    ).layers[0]!;
    const ref = ingestRef(layerDesc);

    const s = store();
    s.locked.add(ref);
    s.content.ingestOffset = async () => {
      s.locked.delete(ref); // the other writer aborted: no ingest, no blob
      return undefined;
    };
    await pullImage(reg.source, s, { platform: amd64 });
    expect(s.commits).toContain(layerDesc.digest);

    const stuck = store();
    stuck.locked.add(ref);
    stuck.offsets.set(ref, 10);
    const err = await pullImage(reg.source, stuck, { platform: amd64, writerStallMs: 1 }).catch(
      (e: unknown) => e,
    );
    expect(isBerthError(err, 'Unavailable')).toBe(true);
    expect((err as Error).message).toContain('made no progress');
    expect(stuck.records).toEqual([]);
  });

  it('lets concurrent pulls of images that share layers all succeed, each blob written once', async () => {
    const reg = registry();
    const a = reg.image(['base-1', 'base-2', 'a']);
    const b = reg.image(['base-1', 'base-2', 'b']);
    const s = store();
    const pullOf = (root: Descriptor) =>
      pullImage(
        { ...reg.source, resolve: async () => ({ name: root.digest, descriptor: root }) },
        s,
        {
          platform: amd64,
        },
      );
    const results = await Promise.all([pullOf(a), pullOf(b), pullOf(a), pullOf(b)]);
    expect(results.map((r) => r.name)).toEqual([a.digest, b.digest, a.digest, b.digest]);
    expect(new Set(s.commits).size).toBe(s.commits.length);
    // base-1, base-2, a, b, two configs, two manifests
    expect(s.commits).toHaveLength(8);
    expect(s.locked.size).toBe(0);
  });

  it('leases what it finds stored before looking, so a collection meanwhile takes nothing it uses', async () => {
    const reg = registry();
    const m = reg.setRoot(reg.image(['kept']));
    const s = store();
    await pullImage(reg.source, s, { platform: amd64 });
    // The image was removed: what the next pull finds is garbage, and a
    // collection takes whatever is not leased right after the pull looks at it.
    const leased = new Set<string>();
    s.content.keep = async (d) => void leased.add(d);
    const labels = s.content.labels;
    s.content.labels = async (d) => {
      const l = await labels(d);
      if (!leased.has(d)) s.blobs.delete(d);
      return l;
    };
    const r = await pullImage(reg.source, s, { platform: amd64 });
    expect(r.fetched).toBe(0);
    expect([...leased]).toContain(m.digest);
    expect(s.blobs.has(m.digest)).toBe(true);
  });

  it('picks the best manifest for the platform, CPU variant included', async () => {
    const reg = registry();
    const arm = (variant?: string): Platform => ({
      os: 'linux',
      architecture: 'arm',
      ...(variant ? { variant } : {}),
    });
    const v5 = reg.image(['v5'], arm('v5'));
    const v6 = reg.image(['v6'], arm('v6'));
    const v7 = reg.image(['v7'], arm('v7'));
    const a64 = reg.image(['arm64'], { os: 'linux', architecture: 'arm64' });
    const picked = async (platform: Platform, manifests: Descriptor[]) => {
      reg.setRoot(reg.index(manifests));
      const s = store();
      await pullImage(reg.source, s, { platform: onlyPlatform(platform) });
      return manifests.filter((m) => s.blobs.has(m.digest));
    };
    expect(await picked(arm('v7'), [v5, v6, v7, a64])).toEqual([v7]);
    expect(await picked(arm('v7'), [a64, v5, v6])).toEqual([v6]);
    expect(await picked({ os: 'linux', architecture: 'arm64' }, [v7, a64])).toEqual([a64]);
    // arm64 runs 32-bit arm when there is nothing better.
    expect(await picked({ os: 'linux', architecture: 'arm64' }, [v5, v7])).toEqual([v7]);

    reg.setRoot(reg.index([v5, v6]));
    const err = await pullImage(reg.source, store(), { platform: amd64 }).catch((e: unknown) => e);
    expect(isBerthError(err, 'NotFound')).toBe(true);
    expect((err as Error).message).toContain('linux/arm/v5, linux/arm/v6');
  });
});
