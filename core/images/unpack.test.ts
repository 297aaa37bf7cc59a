import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { errAlreadyExists, errNotFound } from '../errors/catalogue.js';
import { chainIds } from './oci/chain-id.js';
import { Label, MediaType } from './oci/media-types.js';
import { onlyPlatform } from './oci/platform.js';
import type { Descriptor } from './oci/types.js';
import {
  isImageUnpacked,
  type LayerApplier,
  type UnpackContent,
  type UnpackDeps,
  unpackImage,
  type UnpackSnapshots,
} from './unpack.js';

const D = (c: string) => `sha256:${c.repeat(64)}`;
const platform = onlyPlatform({ os: 'linux', architecture: 'amd64' });

function content() {
  const blobs = new Map<string, Buffer>();
  const labels = new Map<string, Record<string, string>>();
  const put = (mediaType: string, doc: unknown): Descriptor => {
    const data = Buffer.from(JSON.stringify(doc));
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    blobs.set(digest, data);
    return { mediaType, digest, size: data.length };
  };
  const c: UnpackContent = {
    readBlob: async (d) => {
      const b = blobs.get(d);
      if (!b) throw errNotFound(`content ${d}`);
      return b;
    },
    labels: async (d) => ({ ...(labels.get(d) ?? {}) }),
    setLabels: async (d, l) => void labels.set(d, { ...(labels.get(d) ?? {}), ...l }),
  };
  return { c, put, labels };
}

function snapshots(name = 'overlayfs') {
  const snaps = new Map<string, { parent: string; committed: boolean }>();
  const log: string[] = [];
  const sn: UnpackSnapshots = {
    name,
    stat: async (key) => {
      if (!snaps.has(key)) throw errNotFound(`snapshot ${key}`);
      return snaps.get(key);
    },
    prepare: async (key, parent) => {
      if (snaps.has(key)) throw errAlreadyExists(`snapshot ${key}`);
      if (parent && !snaps.get(parent)?.committed) throw errNotFound(`parent ${parent}`);
      snaps.set(key, { parent, committed: false });
      log.push(`prepare ${key}`);
      return [{ type: 'bind', source: `/fake/${key}`, options: ['rbind', 'rw'] }];
    },
    commit: async (name, key) => {
      if (snaps.has(name)) throw errAlreadyExists(`snapshot ${name}`);
      const s = snaps.get(key);
      if (!s) throw errNotFound(`snapshot ${key}`);
      snaps.delete(key);
      snaps.set(name, { parent: s.parent, committed: true });
      log.push(`commit ${name}`);
    },
    remove: async (key) => {
      snaps.delete(key);
      log.push(`remove ${key}`);
    },
  };
  return { sn, snaps, log };
}

/** An applier that "extracts" each layer to the diff ID the test says it has. */
function applier(diffIdOf: Map<string, string>, opts: { delayMs?: number; fail?: string } = {}) {
  const applied: string[] = [];
  const a: LayerApplier = {
    apply: async (layer) => {
      applied.push(layer.digest);
      await new Promise((r) => setTimeout(r, opts.delayMs ?? 0));
      if (layer.digest === opts.fail) throw new Error('layer gzip stream is corrupt or truncated');
      return { digest: diffIdOf.get(layer.digest)!, size: 1 };
    },
  };
  return { a, applied };
}

function threeLayerImage() {
  const ct = content();
  const layers = [D('1'), D('2'), D('3')].map((digest) => ({
    mediaType: MediaType.OCILayerGzip,
    digest,
    size: 10,
  }));
  const diffIds = [D('a'), D('b'), D('c')];
  const config = ct.put(MediaType.OCIConfig, {
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: diffIds },
  });
  const manifest = ct.put(MediaType.OCIManifest, { schemaVersion: 2, config, layers });
  const diffIdOf = new Map(layers.map((l, i) => [l.digest, diffIds[i]!]));
  return { ct, layers, diffIds, config, manifest, diffIdOf, chains: chainIds(diffIds) };
}

describe('unpackImage', () => {
  it('applies layers in order as chain-ID snapshots and labels content like containerd', async () => {
    const img = threeLayerImage();
    const s = snapshots();
    const ap = applier(img.diffIdOf);
    const deps: UnpackDeps = { content: img.ct.c, snapshots: s.sn, applier: ap.a };
    const r = await unpackImage(img.manifest, deps, { platform });
    expect(r.chainId).toBe(img.chains[2]);
    expect(r.applied).toBe(3);
    expect(ap.applied).toEqual(img.layers.map((l) => l.digest));
    expect([...s.snaps.keys()].sort()).toEqual([...img.chains].sort());
    expect(s.snaps.get(img.chains[1]!)!.parent).toBe(img.chains[0]);
    // Unpack keys are containerd's: "extract-<unique> <chainID>".
    expect(s.log.filter((l) => l.startsWith('prepare'))[0]).toMatch(
      new RegExp(`^prepare extract-\\S+ ${img.chains[0]}$`),
    );
    for (const [i, l] of img.layers.entries())
      expect(img.ct.labels.get(l.digest)).toEqual({ [Label.Uncompressed]: img.diffIds[i] });
    expect(img.ct.labels.get(img.config.digest)).toEqual({
      'containerd.io/gc.ref.snapshot.overlayfs': img.chains[2],
    });
    expect(await isImageUnpacked(img.manifest, deps, platform)).toBe(true);

    // A second unpack finds every layer and applies nothing.
    const again = await unpackImage(img.manifest, deps, { platform });
    expect(again.applied).toBe(0);
    expect(ap.applied).toHaveLength(3);
  });

  it('leases a snapshot it finds unpacked before looking, so a collection cannot take it', async () => {
    const img = threeLayerImage();
    const s = snapshots();
    const ap = applier(img.diffIdOf);
    await unpackImage(
      img.manifest,
      { content: img.ct.c, snapshots: s.sn, applier: ap.a },
      {
        platform,
      },
    );
    s.snaps.delete(img.chains[2]!); // the top layer went; the two below are garbage too
    const leased = new Set<string>();
    const stat = s.sn.stat;
    const racing: UnpackSnapshots = {
      ...s.sn,
      keep: async (key) => void leased.add(key),
      // A collection right after each look takes what is not leased.
      stat: async (key) => {
        const r = await stat(key);
        if (!leased.has(key)) s.snaps.delete(key);
        return r;
      },
    };
    const r = await unpackImage(
      img.manifest,
      { content: img.ct.c, snapshots: racing, applier: ap.a },
      { platform },
    );
    expect(r.applied).toBe(1);
    expect([...s.snaps.keys()].sort()).toEqual([...img.chains].sort());
  });

  it('applies each layer once when unpacks of one image race in one process', async () => {
    const img = threeLayerImage();
    const s = snapshots();
    const ap = applier(img.diffIdOf, { delayMs: 10 });
    const deps: UnpackDeps = { content: img.ct.c, snapshots: s.sn, applier: ap.a };
    const results = await Promise.all(
      [1, 2, 3].map(() => unpackImage(img.manifest, deps, { platform, scope: 'race' })),
    );
    expect(results.reduce((n, r) => n + r.applied, 0)).toBe(3);
    expect(ap.applied).toHaveLength(3);
    expect([...s.snaps.keys()].sort()).toEqual([...img.chains].sort());
  });

  it('treats AlreadyExists on commit as another unpack having won', async () => {
    const img = threeLayerImage();
    const s = snapshots();
    // Another process commits layer 0 while this one is applying it.
    const ap: LayerApplier = {
      apply: async (layer) => {
        if (layer.digest === img.layers[0]!.digest)
          s.snaps.set(img.chains[0]!, { parent: '', committed: true });
        return { digest: img.diffIdOf.get(layer.digest)!, size: 1 };
      },
    };
    const r = await unpackImage(
      img.manifest,
      { content: img.ct.c, snapshots: s.sn, applier: ap },
      { platform },
    );
    expect(r.applied).toBe(2);
    expect([...s.snaps.keys()].sort()).toEqual([...img.chains].sort());
    expect(s.log.some((l) => l.startsWith('remove extract-'))).toBe(true);
  });

  it('removes the extract snapshot of a failing layer and commits nothing for it', async () => {
    const img = threeLayerImage();
    const s = snapshots();
    const ap = applier(img.diffIdOf, { fail: img.layers[1]!.digest });
    await expect(
      unpackImage(
        img.manifest,
        { content: img.ct.c, snapshots: s.sn, applier: ap.a },
        { platform },
      ),
    ).rejects.toThrow(/corrupt or truncated/);
    expect([...s.snaps.keys()]).toEqual([img.chains[0]]);
    expect(img.ct.labels.get(img.config.digest)).toBeUndefined();
  });

  it('refuses a layer whose extracted diff ID differs from the config', async () => {
    const img = threeLayerImage();
    const s = snapshots();
    const wrong = new Map(img.diffIdOf);
    wrong.set(img.layers[2]!.digest, D('9'));
    await expect(
      unpackImage(
        img.manifest,
        { content: img.ct.c, snapshots: s.sn, applier: applier(wrong).a },
        { platform },
      ),
    ).rejects.toThrow(/does not match .* in the image config/);
    expect([...s.snaps.keys()].sort()).toEqual([img.chains[0], img.chains[1]].sort());
  });
});
