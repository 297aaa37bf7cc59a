// Image archives into berthd and containers from them: berth images
// import/export/check/usage/ls, berth run IMAGE, concurrent unpacks, bad
// archives, and containerd's ctr importing and running against berthd.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import { diffApi } from '../client/diff.js';
import { getImage } from '../client/image.js';
import { importArchive } from '../client/import.js';
import { unpack } from '../client/unpack.js';
import { chainIds } from '../core/images/oci/chain-id.js';
import { Label } from '../core/images/oci/media-types.js';
import {
  BUSYBOX_IMAGE,
  type BuiltImage,
  busyboxImage,
  MEDIA_TYPES,
  writeImageArchive,
} from './fixtures/image-builder.js';
import { berth, run, startDaemon, type TestDaemon } from './helpers/daemon.js';

const CTR = '/usr/bin/ctr';
const isRoot = process.getuid?.() === 0;
const haveRunc = existsSync('/usr/sbin/runc') || existsSync('/usr/bin/runc');
const REF = 'docker.io/library/busybox:latest';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A copy of `img` with layer `i` replaced by `data` (manifest and index rewritten to match). */
function withLayer(img: BuiltImage, i: number, data: Buffer): BuiltImage {
  const blobs = new Map(img.blobs);
  blobs.delete(img.layers[i]!.digest);
  const layers = img.layers.map((l, j) =>
    j === i ? { ...l, digest: sha256(data), size: data.length } : l,
  );
  blobs.set(layers[i]!.digest, data);
  blobs.delete(img.manifest.digest);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.manifest,
      config: img.config,
      layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    }),
  );
  const manifestDesc = { ...img.manifest, digest: sha256(manifest), size: manifest.length };
  blobs.set(manifestDesc.digest, manifest);
  const index = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests: [manifestDesc] }),
  );
  return { ...img, layers, manifest: manifestDesc, blobs, index };
}

/** A copy of `img` named `ref` whose config's runtime part gets `patch`. */
function withConfig(img: BuiltImage, ref: string, patch: Record<string, unknown>): BuiltImage {
  const blobs = new Map(img.blobs);
  const cfg = JSON.parse(img.blobs.get(img.config.digest)!.toString());
  const config = Buffer.from(JSON.stringify({ ...cfg, config: { ...cfg.config, ...patch } }));
  const configDesc = { ...img.config, digest: sha256(config), size: config.length };
  blobs.set(configDesc.digest, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.manifest,
      config: configDesc,
      layers: img.layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    }),
  );
  const manifestDesc = {
    ...img.manifest,
    digest: sha256(manifest),
    size: manifest.length,
    annotations: { 'io.containerd.image.name': ref },
  };
  blobs.set(manifestDesc.digest, manifest);
  const index = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests: [manifestDesc] }),
  );
  return { ...img, ref, config: configDesc, manifest: manifestDesc, blobs, index };
}

describe.skipIf(!isRoot)('image import, unpack, export and run', () => {
  let d: TestDaemon;
  let tmp: string;
  let img: BuiltImage;
  let ociTar: string;
  let dockerTar: string;
  const clients: Client[] = [];
  const client = (ns: string) => {
    const c = new Client({ address: d.address, namespace: ns });
    clients.push(c);
    return c;
  };
  const ok = async (p: Promise<{ code: number | null; stdout: string; stderr: string }>) => {
    const r = await p;
    if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  /** Snapshots of a namespace by name (overlayfs). */
  const snapshotNames = async (ns: string) =>
    (await client(ns).snapshots('overlayfs').list()).map((s) => s.name).sort();

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-images-it-'));
    img = await busyboxImage();
    ociTar = path.join(tmp, 'busybox-oci.tar');
    dockerTar = path.join(tmp, 'busybox-docker.tar');
    writeImageArchive(img, ociTar, 'oci');
    writeImageArchive(img, dockerTar, 'docker');
    d = await startDaemon();
  });

  afterAll(async () => {
    // Containers first, then their snapshots, in every namespace used.
    if (d) {
      const c = new Client({ address: d.address });
      try {
        for (const ns of await c.namespaces.list()) {
          const cn = c.withNamespace(ns.name);
          for (const ctr of await cn.containers.list()) {
            await cn.tasks.delete(ctr.id).catch(() => undefined);
            await cn.containers.delete(ctr.id).catch(() => undefined);
          }
          for (const sn of ['overlayfs', 'native']) {
            // Children before parents: keep removing until nothing goes.
            for (let pass = 0; pass < 8; pass++) {
              const list = await cn
                .snapshots(sn)
                .list()
                .catch(() => []);
              if (list.length === 0) break;
              for (const s of list)
                await cn
                  .snapshots(sn)
                  .remove(s.name)
                  .catch(() => undefined);
            }
          }
        }
      } finally {
        c.close();
      }
    }
    for (const c of clients) c.close();
    await d?.dispose();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('imports an OCI layout, labels content as containerd does and lists size and platform', async () => {
    const out = await ok(berth(d, ['images', 'import', ociTar], { namespace: 'oci' }));
    expect(out).toContain(`unpacking ${REF} (${img.manifest.digest})...done`);

    const c = client('oci');
    const chains = chainIds(img.layers.map((l) => l.diffId));
    expect(await snapshotNames('oci')).toEqual([...chains].sort());
    for (const l of img.layers) {
      expect((await c.content.info(l.digest)).labels[Label.Uncompressed]).toBe(l.diffId);
    }
    const config = await c.content.info(img.config.digest);
    expect(config.labels['containerd.io/gc.ref.snapshot.overlayfs']).toBe(chains[1]);
    const manifest = await c.content.info(img.manifest.digest);
    expect(manifest.labels).toMatchObject({
      'containerd.io/gc.ref.content.config': img.config.digest,
      'containerd.io/gc.ref.content.l.0': img.layers[0]!.digest,
      'containerd.io/gc.ref.content.l.1': img.layers[1]!.digest,
    });
    // No unpack snapshot is left behind, and the import lease is gone.
    expect((await snapshotNames('oci')).some((n) => n.startsWith('extract-'))).toBe(false);
    expect(await c.leases.list()).toEqual([]);

    const ls = await ok(berth(d, ['images', 'ls'], { namespace: 'oci' }));
    const total = img.manifest.size + img.config.size + img.layers.reduce((n, l) => n + l.size, 0);
    expect(ls).toMatch(
      new RegExp(
        `${REF.replace(/[.]/g, '\\.')}\\s+\\S+\\s+${img.manifest.digest}\\s+\\d+\\.\\d \\S+\\s+linux/`,
      ),
    );
    const image = await getImage(c, 'busybox');
    expect(await image.size()).toBe(total);

    const check = await ok(berth(d, ['images', 'check'], { namespace: 'oci' }));
    expect(check).toMatch(/complete \(4\/4\)\s+\d.*\/\d.*\s+true/);
    const usage = await ok(berth(d, ['images', 'usage', REF], { namespace: 'oci' }));
    expect(usage).toContain(chains[0]!);
    expect(usage).toMatch(/TOTAL\s+\d/);
  });

  it.skipIf(!haveRunc)(
    'runs a command in the image with berth run --rm, then removes the snapshot',
    async () => {
      const out = await ok(
        berth(d, ['run', '--rm', REF, 'run1', 'echo', 'hi'], { namespace: 'oci' }),
      );
      expect(out).toBe('hi\n');
      // Both layers are visible, the whiteout of layer 2 hides layer 1's file.
      const rel = await ok(
        berth(d, ['run', '--rm', 'busybox', 'run2', 'cat', `/${BUSYBOX_IMAGE.added}`], {
          namespace: 'oci',
        }),
      );
      expect(rel).toBe(BUSYBOX_IMAGE.addedContent);
      const gone = await berth(
        d,
        ['run', '--rm', 'busybox', 'run3', 'ls', `/${BUSYBOX_IMAGE.whitedOut}`],
        { namespace: 'oci' },
      );
      expect(gone.code).not.toBe(0);
      // The image config's PATH and working directory are used.
      const env = await ok(
        berth(d, ['run', '--rm', 'busybox', 'run4', 'sh', '-c', 'echo $PATH; pwd'], {
          namespace: 'oci',
        }),
      );
      expect(env).toBe('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/\n');

      const c = client('oci');
      expect(await c.containers.list()).toEqual([]);
      expect(await snapshotNames('oci')).toEqual(chainIds(img.layers.map((l) => l.diffId)).sort());
    },
  );

  it.skipIf(!haveRunc)("resolves a named image user in the image's /etc/passwd", async () => {
    const tar = path.join(tmp, 'nobody.tar');
    writeImageArchive(
      withConfig(img, 'example.com/nobody:1', { User: 'nobody', WorkingDir: '/tmp' }),
      tar,
    );
    await ok(berth(d, ['images', 'import', tar], { namespace: 'oci' }));
    const out = await ok(
      berth(d, ['run', '--rm', 'example.com/nobody:1', 'u1', 'sh', '-c', 'id -u; id -g; pwd'], {
        namespace: 'oci',
      }),
    );
    expect(out).toBe('65534\n65534\n/tmp\n');
    // The view used to read /etc/passwd is gone.
    expect((await snapshotNames('oci')).filter((n) => n.startsWith('user-view-'))).toEqual([]);
  });

  it('fails clearly when the image is neither local nor pullable', async () => {
    // A registry on a closed loopback port: the pull fails without leaving the host.
    const ref = '127.0.0.1:1/nothere:1';
    const r = await berth(d, ['run', '--rm', ref, 'x', 'true'], { namespace: 'oci' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('127.0.0.1:1');
    expect(await client('oci').containers.list()).toEqual([]);
  });

  it('applies each layer once when two unpacks of one image race', async () => {
    const c = client('race');
    await importArchive(c, ociTar, { noUnpack: true });
    expect(await snapshotNames('race')).toEqual([]);
    const target = (await getImage(c, REF)).target;
    const [a, b] = await Promise.all([unpack(c, target), unpack(c, target)]);
    expect(a.chainId).toBe(b.chainId);
    expect(a.applied + b.applied).toBe(img.layers.length);
    expect(await snapshotNames('race')).toEqual(chainIds(img.layers.map((l) => l.diffId)).sort());
    // Separate processes race through the AlreadyExists rule; both succeed.
    const [p1, p2] = await Promise.all([
      berth(d, ['images', 'import', ociTar], { namespace: 'race2' }),
      berth(d, ['images', 'import', ociTar], { namespace: 'race2' }),
    ]);
    expect([p1.code, p2.code, p1.stderr, p2.stderr]).toEqual([0, 0, '', '']);
    expect(await snapshotNames('race2')).toEqual(chainIds(img.layers.map((l) => l.diffId)).sort());
  });

  it('imports a docker save archive under its repo tag', async () => {
    const out = await ok(berth(d, ['images', 'import', dockerTar], { namespace: 'docker' }));
    expect(out).toContain(`unpacking ${REF}`);
    const c = client('docker');
    const image = await getImage(c, REF);
    expect(image.target.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const resolved = await image.resolve();
    expect(resolved.diffIds).toEqual(img.layers.map((l) => l.diffId));
    expect(await snapshotNames('docker')).toEqual(chainIds(img.layers.map((l) => l.diffId)).sort());
    if (haveRunc) {
      expect(
        await ok(berth(d, ['run', '--rm', REF, 'd1', 'echo', 'docker'], { namespace: 'docker' })),
      ).toBe('docker\n');
    }
  });

  it.skipIf(!haveRunc)('unpacks into and runs on the native snapshotter too', async () => {
    await ok(
      berth(d, ['images', 'import', '--snapshotter', 'native', ociTar], { namespace: 'native' }),
    );
    const names = (await client('native').snapshots('native').list()).map((s) => s.name).sort();
    expect(names).toEqual(chainIds(img.layers.map((l) => l.diffId)).sort());
    const out = await ok(
      berth(
        d,
        ['run', '--rm', '--snapshotter', 'native', REF, 'n1', 'cat', `/${BUSYBOX_IMAGE.added}`],
        {
          namespace: 'native',
        },
      ),
    );
    expect(out).toBe(BUSYBOX_IMAGE.addedContent);
    expect((await client('native').snapshots('native').list()).length).toBe(names.length);
  });

  it('Diff.Diff writes a snapshot change as a layer that Diff.Apply puts back', async () => {
    const c = client('diff');
    await importArchive(c, ociTar);
    const sn = c.snapshots('overlayfs');
    const diff = diffApi(c);
    const top = chainIds(img.layers.map((l) => l.diffId))[1]!;
    const mounts = await sn.prepare('diff-work', top);
    try {
      const upper = mounts[0]!.options
        .find((o) => o.startsWith('upperdir='))!
        .slice('upperdir='.length);
      await writeFile(path.join(upper, 'added-by-test'), 'changed\n');
      const left = await sn.view('diff-left', top);
      const layer = await diff.diff(left, mounts, { labels: { purpose: 'test' } });
      expect(layer.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
      const info = await c.content.info(layer.digest);
      expect(info.labels.purpose).toBe('test');
      expect(info.labels[Label.Uncompressed]).toMatch(/^sha256:/);

      const target = await sn.prepare('apply-target', top);
      const applied = await diff.apply(layer, target);
      expect(applied.digest).toBe(info.labels[Label.Uncompressed]);
      const upper2 = target[0]!.options
        .find((o) => o.startsWith('upperdir='))!
        .slice('upperdir='.length);
      expect(await readFile(path.join(upper2, 'added-by-test'), 'utf8')).toBe('changed\n');
      // Only the change is in the layer: nothing of the image's own files.
      expect((await readdir(upper2)).sort()).toEqual(['added-by-test']);
    } finally {
      for (const k of ['apply-target', 'diff-left', 'diff-work'])
        await sn.remove(k).catch(() => undefined);
    }
  });

  it('exports to an OCI layout that imports back to the same image', async () => {
    const out = path.join(tmp, 'exported.tar');
    await ok(berth(d, ['images', 'export', out, REF], { namespace: 'oci' }));
    await ok(berth(d, ['images', 'import', '--no-unpack', out], { namespace: 'roundtrip' }));
    const a = await getImage(client('oci'), REF);
    const b = await getImage(client('roundtrip'), REF);
    expect(b.target.digest).toBe(a.target.digest);
    expect((await b.resolve()).chainIds).toEqual((await a.resolve()).chainIds);
    // Exporting again gives the same bytes: the archive is reproducible.
    const again = path.join(tmp, 'exported-again.tar');
    await ok(berth(d, ['images', 'export', again, REF], { namespace: 'roundtrip' }));
    expect(sha256(await readFile(again))).toBe(sha256(await readFile(out)));
  });

  it('refuses a manifest that references a blob missing from the archive', async () => {
    const broken = { ...img, blobs: new Map(img.blobs) };
    broken.blobs.delete(img.layers[1]!.digest);
    const tar = path.join(tmp, 'missing-blob.tar');
    writeImageArchive(broken, tar);
    const r = await berth(d, ['images', 'import', tar], { namespace: 'missing' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`blob ${img.layers[1]!.digest}`);
    expect(r.stderr).toContain('is not in the archive');
    expect(await client('missing').images.list()).toEqual([]);
    expect(await snapshotNames('missing')).toEqual([]);
  });

  it('refuses a blob whose bytes do not match its digest, storing nothing under that digest', async () => {
    const bad = { ...img, blobs: new Map(img.blobs) };
    bad.blobs.set(img.layers[1]!.digest, Buffer.from('not the layer'));
    const tar = path.join(tmp, 'digest-mismatch.tar');
    writeImageArchive(bad, tar);
    const r = await berth(d, ['images', 'import', tar], { namespace: 'mismatch' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/digest|size/i);
    const c = client('mismatch');
    await expect(c.content.info(img.layers[1]!.digest)).rejects.toThrow(/not found/);
    expect(await c.images.list()).toEqual([]);
    // Nothing of the failed import stays in progress, waiting for its lease to expire.
    expect((await c.content.statuses()).map((st) => st.ref)).toEqual([]);
  });

  it('fails a truncated gzip layer clearly and commits no snapshot for it', async () => {
    const layer = img.blobs.get(img.layers[1]!.digest)!;
    const tar = path.join(tmp, 'truncated.tar');
    writeImageArchive(withLayer(img, 1, layer.subarray(0, Math.floor(layer.length / 2))), tar);
    const r = await berth(d, ['images', 'import', tar], { namespace: 'corrupt' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/corrupt or truncated|truncated/);
    const chains = chainIds(img.layers.map((l) => l.diffId));
    // The first layer is intact and stays; the second never becomes a snapshot.
    expect(await snapshotNames('corrupt')).toEqual([chains[0]]);

    const garbage = Buffer.concat([layer.subarray(0, 64), Buffer.alloc(4096, 0x55)]);
    const tar2 = path.join(tmp, 'corrupt.tar');
    writeImageArchive(withLayer(img, 1, garbage), tar2);
    const r2 = await berth(d, ['images', 'import', tar2], { namespace: 'corrupt' });
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/corrupt|truncated|invalid/);
    expect(await snapshotNames('corrupt')).toEqual([chains[0]]);
  });

  describe.skipIf(!existsSync(CTR))('containerd ctr against berthd', () => {
    const ctr = (...args: string[]) => run(CTR, ['-a', d.address, ...args], { timeoutMs: 60_000 });

    it('ctr images import, images ls and snapshots ls', async () => {
      await ok(ctr('-n', 'ctr', 'images', 'import', ociTar));
      const ls = await ok(ctr('-n', 'ctr', 'images', 'ls'));
      expect(ls).toContain(REF);
      expect(ls).toContain(img.manifest.digest);
      const snaps = await ok(ctr('-n', 'ctr', 'snapshots', 'ls'));
      for (const chain of chainIds(img.layers.map((l) => l.diffId))) expect(snaps).toContain(chain);
      // What ctr unpacked is what berth would have: berth sees it as unpacked.
      const check = await ok(berth(d, ['images', 'check'], { namespace: 'ctr' }));
      expect(check).toMatch(/complete \(4\/4\).*true/);
      if (haveRunc) {
        expect(
          await ok(berth(d, ['run', '--rm', REF, 'b1', 'echo', 'hi'], { namespace: 'ctr' })),
        ).toBe('hi\n');
      }
    });

    it.skipIf(!haveRunc)('ctr run --rm IMAGE ID /bin/echo hi', async () => {
      const out = await ok(ctr('-n', 'ctr', 'run', '--rm', REF, 'ctr-run-1', '/bin/echo', 'hi'));
      expect(out.replace(/\r/g, '')).toBe('hi\n');
      expect(await client('ctr').containers.list()).toEqual([]);
      expect((await snapshotNames('ctr')).includes('ctr-run-1')).toBe(false);
    });
  });
});
