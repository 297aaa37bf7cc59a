// Pull and push against Debian's docker-registry on 127.0.0.1: a fixture
// image seeded with the registry library, pulled through berthd by the CLI
// (index → platform manifest → config and layers, unpacked), pushed to
// another repository, removed locally and pulled back; a pull through a
// hosts.toml mirror; a missing tag.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import { fetchImage, pull } from '../client/pull.js';
import type { TransferProgress } from '../client/transfer-progress.js';
import { parseIndex } from '../core/images/oci/types.js';
import { BUSYBOX_IMAGE, busyboxImage, type BuiltImage } from './fixtures/image-builder.js';
import { berth, distCmd, run, startDaemon, type TestDaemon } from './helpers/daemon.js';
import {
  haveDockerRegistry,
  seedImage,
  startRegistry,
  type TestRegistry,
} from './helpers/registry.js';

const NS = 'registry';
const GC_PREFIX = 'containerd.io/gc.ref.content';

async function manifestExists(
  reg: TestRegistry,
  repo: string,
  ref: string,
): Promise<string | null> {
  const res = await fetch(`http://${reg.host}/v2/${repo}/manifests/${ref}`, {
    method: 'HEAD',
    headers: {
      accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json',
    },
  });
  return res.status === 200 ? res.headers.get('docker-content-digest') : null;
}

describe.skipIf(!haveDockerRegistry)('registry pull and push (docker-registry)', () => {
  let reg: TestRegistry;
  let d: TestDaemon;
  let client: Client;
  let img: BuiltImage;
  let indexDigest: string;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-registry-test-'));
  const cli = (...args: string[]) => berth(d, args, { namespace: NS });

  beforeAll(async () => {
    reg = await startRegistry();
    d = await startDaemon();
    client = new Client({ address: d.address, namespace: NS });
    img = await busyboxImage();
    const seeded = await seedImage(img, `${reg.host}/fixtures/busybox`, {
      tag: 'v1',
      indexTag: 'multi',
    });
    indexDigest = seeded.index.digest;
  });

  afterAll(async () => {
    client?.close();
    await d?.dispose();
    await reg?.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('pulls an index with the CLI: platform manifest, config and layers stored with GC labels, unpacked', async () => {
    const ref = `${reg.host}/fixtures/busybox:multi`;
    const r = await cli('images', 'pull', '--plain-http', ref);
    expect(r.stderr).toMatch(/pulled in/);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`${ref} ${indexDigest}`);
    // Non-terminal progress: one line per finished object.
    expect(r.stderr).toMatch(
      new RegExp(`layer-sha256:${img.layers[0]!.digest.slice(7, 19)}: done`),
    );

    const image = await client.images.get(ref);
    expect(image.target).toMatchObject({
      digest: indexDigest,
      mediaType: 'application/vnd.oci.image.index.v1+json',
    });
    const index = await client.content.info(indexDigest);
    expect(index.labels[`${GC_PREFIX}.m.0`]).toBe(img.manifest.digest);
    expect(index.labels[`containerd.io/distribution.source.${reg.host}`]).toBe('fixtures/busybox');
    const manifest = await client.content.info(img.manifest.digest);
    expect(manifest.labels[`${GC_PREFIX}.config`]).toBe(img.config.digest);
    expect(manifest.labels[`${GC_PREFIX}.l.0`]).toBe(img.layers[0]!.digest);
    expect(manifest.labels[`${GC_PREFIX}.l.1`]).toBe(img.layers[1]!.digest);
    for (const l of img.layers) {
      const info = await client.content.info(l.digest);
      expect(info.size).toBe(l.size);
      // unpack records the diff ID on each layer
      expect(info.labels['containerd.io/uncompressed']).toBe(l.diffId);
    }
    // The top chain ID is a committed snapshot, kept by the config's label.
    const config = await client.content.info(img.config.digest);
    const top = config.labels['containerd.io/gc.ref.snapshot.overlayfs'];
    expect(top).toMatch(/^sha256:/);
    expect((await client.snapshots('overlayfs').stat(top!)).name).toBe(top);
    // The pull's lease is gone: the image record holds everything now.
    expect(await client.leases.list()).toEqual([]);
  });

  it('reports progress through the client and fetches nothing the store has', async () => {
    const events: TransferProgress[] = [];
    const r = await fetchImage(client, `${reg.host}/fixtures/busybox:v1`, {
      plainHttp: true,
      hostsDir: tmp,
      onProgress: (e) => {
        events.push(e);
      },
    });
    expect(r.target.digest).toBe(img.manifest.digest);
    expect(r.fetched).toBe(0);
    const statuses = new Set(events.map((e) => e.status));
    expect(statuses).toContain('resolved');
    expect(statuses).toContain('exists');
    expect(statuses).not.toContain('downloading');
  });

  it('pushes with the CLI to another repository, pulls it back after a local removal', async () => {
    const local = `${reg.host}/fixtures/busybox:multi`;
    const remote = `${reg.host}/copies/busybox:v2`;
    const p = await cli('images', 'push', '--plain-http', remote, local);
    expect(p.stderr).toMatch(/pushed in/);
    expect(p.code).toBe(0);
    expect(p.stdout.trim()).toBe(`${remote} ${indexDigest}`);
    expect(await manifestExists(reg, 'copies/busybox', 'v2')).toBe(indexDigest);
    expect(await manifestExists(reg, 'copies/busybox', img.manifest.digest)).toBe(
      img.manifest.digest,
    );

    // A second push finds every blob in place.
    const again = await cli('images', 'push', '--plain-http', remote, local);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/\(0 blobs uploaded\)/);

    // Remove every local image and collect, then pull the copy back.
    for (const i of await client.images.list()) await client.images.delete(i.name, { sync: true });
    await expect(client.content.info(img.layers[0]!.digest)).rejects.toThrow(/not found/);
    const back = await cli('images', 'pull', '--plain-http', remote);
    expect(back.stderr).toMatch(/pulled in/);
    expect(back.code).toBe(0);
    expect(back.stderr).toMatch(/\(5 blobs fetched\)/); // index, manifest, config, two layers
    const image = await client.images.get(remote);
    expect(image.target?.digest).toBe(indexDigest);
    expect((await client.content.info(img.layers[1]!.digest)).size).toBe(img.layers[1]!.size);
  });

  it('uploads large blobs in chunks', async () => {
    const seeded = await seedImage(
      img,
      `${reg.host}/chunked/busybox`,
      { tag: 'v1' },
      { chunkSize: 64 << 10 },
    );
    expect(await manifestExists(reg, 'chunked/busybox', 'v1')).toBe(seeded.manifest.digest);
    const r = await pull(client, `${reg.host}/chunked/busybox:v1`, {
      plainHttp: true,
      hostsDir: tmp,
      unpack: false,
    });
    expect(r.target.digest).toBe(img.manifest.digest);
  });

  it('pulls through a hosts.toml mirror for a registry that does not exist', async () => {
    const hostsDir = path.join(tmp, 'certs.d');
    const upstream = 'registry.example.invalid';
    fs.mkdirSync(path.join(hostsDir, upstream), { recursive: true });
    fs.writeFileSync(
      path.join(hostsDir, upstream, 'hosts.toml'),
      // The upstream is never contacted: it may do nothing, so no lookup leaves this host.
      `server = "https://${upstream}"\ncapabilities = []\n\n[host."http://${reg.host}"]\n  capabilities = ["pull", "resolve"]\n`,
    );
    const ref = `${upstream}/fixtures/busybox:multi`;
    const r = await cli('images', 'pull', '--hosts-dir', hostsDir, ref);
    expect(r.stderr).toMatch(/pulled in/);
    expect(r.code).toBe(0);
    const image = await client.images.get(ref);
    expect(image.target?.digest).toBe(indexDigest);
    const index = await client.content.info(indexDigest);
    expect(index.labels[`containerd.io/distribution.source.${upstream}`]).toBe('fixtures/busybox');
    // Push is not allowed through the mirror, and the upstream does not exist.
    const push = await cli(
      'images',
      'push',
      '--hosts-dir',
      hostsDir,
      `${upstream}/fixtures/other:v1`,
      ref,
    );
    expect(push.code).toBe(1);
    expect(push.stderr).toContain(`no host configured for ${upstream} may push`);
  });

  it('berth run pulls a missing image (plain HTTP via hosts.toml) and runs it', async () => {
    const ref = `${reg.host}/copies/busybox:v2`;
    for (const i of await client.images.list()) await client.images.delete(i.name, { sync: true });
    const hostsDir = path.join(tmp, 'run-certs.d');
    fs.mkdirSync(path.join(hostsDir, reg.host), { recursive: true });
    fs.writeFileSync(
      path.join(hostsDir, reg.host, 'hosts.toml'),
      `server = "http://${reg.host}"\n`,
    );
    const r = await run(
      process.execPath,
      [
        distCmd('berth'),
        '-a',
        d.address,
        '-n',
        NS,
        'run',
        '--rm',
        ref,
        'reg-run',
        'cat',
        `/${BUSYBOX_IMAGE.added}`,
      ],
      { env: { BERTH_HOSTS_DIR: hostsDir } },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(BUSYBOX_IMAGE.addedContent);
    expect((await client.images.get(ref)).target?.digest).toBe(indexDigest);
    expect(await client.containers.list()).toEqual([]);
  });

  it('names the missing tag and the platform that has no manifest', async () => {
    const r = await cli('images', 'pull', '--plain-http', `${reg.host}/fixtures/busybox:nope`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `failed to resolve reference "${reg.host}/fixtures/busybox:nope": not found`,
    );

    const idx = parseIndex(img.index);
    const other =
      idx.manifests[0]!.platform!.architecture === 'amd64' ? 'linux/s390x' : 'linux/amd64';
    const p = await cli(
      'images',
      'pull',
      '--plain-http',
      '--platform',
      other,
      `${reg.host}/fixtures/busybox:multi`,
    );
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(
      new RegExp(`no manifest for platform ${other} in index ${indexDigest}`),
    );
  });
});
