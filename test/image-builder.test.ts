// The deterministic test images: same bytes on every build, and a valid OCI
// image layout (every digest matches its blob, diff_ids match the layers).

import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyLayer } from '../core/diff/apply.js';
import { busyboxAvailable } from './fixtures/busybox-rootfs.js';
import {
  ANNOTATION_REF_NAME,
  BUSYBOX_IMAGE,
  MEDIA_TYPES,
  buildBusyboxImage,
  buildBusyboxLayout,
  buildPauseImage,
  dockerRepoTag,
} from './fixtures/image-builder.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const readJson = (p: string) => JSON.parse(fs.readFileSync(p, 'utf8'));

/** Checks an extracted OCI layout and returns its manifest and config. */
function validateLayout(dir: string, ref: string) {
  expect(readJson(path.join(dir, 'oci-layout'))).toEqual({ imageLayoutVersion: '1.0.0' });
  const blobsDir = path.join(dir, 'blobs', 'sha256');
  for (const hex of fs.readdirSync(blobsDir)) {
    expect(sha256(fs.readFileSync(path.join(blobsDir, hex)))).toBe(`sha256:${hex}`);
  }
  const blob = (d: { digest: string; size: number }) => {
    const b = fs.readFileSync(path.join(blobsDir, d.digest.slice(7)));
    expect(b.length).toBe(d.size);
    return b;
  };
  const index = readJson(path.join(dir, 'index.json'));
  expect(index.schemaVersion).toBe(2);
  expect(index.manifests).toHaveLength(1);
  const mdesc = index.manifests[0];
  expect(mdesc.mediaType).toBe(MEDIA_TYPES.manifest);
  expect(mdesc.annotations[ANNOTATION_REF_NAME]).toBe(ref);
  const manifest = JSON.parse(blob(mdesc).toString());
  expect(manifest.config.mediaType).toBe(MEDIA_TYPES.config);
  const config = JSON.parse(blob(manifest.config).toString());
  expect(config.rootfs.type).toBe('layers');
  expect(config.rootfs.diff_ids).toHaveLength(manifest.layers.length);
  manifest.layers.forEach((l: { mediaType: string; digest: string; size: number }, i: number) => {
    expect(l.mediaType).toBe(MEDIA_TYPES.layerGzip);
    expect(sha256(gunzipSync(blob(l)))).toBe(config.rootfs.diff_ids[i]);
  });
  return { manifest, config, blobsDir };
}

describe.skipIf(!busyboxAvailable() || process.getuid?.() !== 0)('test image builder', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-image-test-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('builds byte-identical busybox and pause archives on every run', async () => {
    for (const [name, build] of [
      ['busybox', buildBusyboxImage],
      ['pause', buildPauseImage],
    ] as const) {
      const a = path.join(tmp, `${name}-a.tar`);
      const b = path.join(tmp, `${name}-b.tar`);
      const ia = await build(a);
      await new Promise((r) => setTimeout(r, 1100)); // a different wall-clock second
      const ib = await build(b);
      expect(fs.readFileSync(a).equals(fs.readFileSync(b))).toBe(true);
      expect(ia.manifest.digest).toBe(ib.manifest.digest);
    }
  });

  it('writes a valid OCI layout whose layers apply to the expected tree', async () => {
    const ref = 'docker.io/library/busybox:latest';
    const archive = path.join(tmp, 'busybox-oci.tar');
    const img = await buildBusyboxImage(archive, { ref });
    const dir = path.join(tmp, 'busybox-oci');
    fs.mkdirSync(dir);
    execFileSync('tar', ['-C', dir, '-xf', archive]);
    const { manifest, config, blobsDir } = validateLayout(dir, ref);
    expect(manifest.layers).toHaveLength(2);
    expect(config.config).toMatchObject({ Cmd: ['sh'], WorkingDir: '/' });
    expect(config.config.Env[0]).toMatch(/^PATH=/);
    expect(img.layers.map((l) => l.diffId)).toEqual(config.rootfs.diff_ids);

    // the layout-directory variant holds the same blobs
    const layoutDir = path.join(tmp, 'busybox-layout');
    await buildBusyboxLayout(layoutDir, { ref });
    expect(fs.readdirSync(path.join(layoutDir, 'blobs', 'sha256')).sort()).toEqual(
      fs.readdirSync(blobsDir).sort(),
    );

    const rootfs = path.join(tmp, 'busybox-rootfs');
    fs.mkdirSync(rootfs);
    for (const [i, l] of manifest.layers.entries()) {
      const res = await applyLayer(
        rootfs,
        fs.createReadStream(path.join(blobsDir, l.digest.slice(7))),
      );
      expect(res.diffId).toBe(config.rootfs.diff_ids[i]);
      expect(res.compression).toBe('gzip');
    }
    expect(fs.existsSync(path.join(rootfs, BUSYBOX_IMAGE.whitedOut))).toBe(false);
    expect(fs.readFileSync(path.join(rootfs, BUSYBOX_IMAGE.added), 'utf8')).toBe(
      BUSYBOX_IMAGE.addedContent,
    );
    expect(fs.readlinkSync(path.join(rootfs, 'bin', 'sh'))).toBe('busybox');
    expect(fs.statSync(path.join(rootfs, 'tmp')).mode & 0o7777).toBe(0o1777);
    expect(
      execFileSync('chroot', [rootfs, '/bin/sh', '-c', 'cat /etc/berth-release; ls /etc'], {
        encoding: 'utf8',
      }),
    ).toContain('LAYER=2');
  });

  it('writes a docker save archive whose layer.tar files match the diff_ids', async () => {
    const archive = path.join(tmp, 'busybox-docker.tar');
    const img = await buildBusyboxImage(archive, {
      ref: 'docker.io/library/busybox:1.36',
      format: 'docker',
    });
    const dir = path.join(tmp, 'busybox-docker');
    fs.mkdirSync(dir);
    execFileSync('tar', ['-C', dir, '-xf', archive]);
    const [entry] = readJson(path.join(dir, 'manifest.json'));
    expect(entry.RepoTags).toEqual(['busybox:1.36']);
    const config = readJson(path.join(dir, entry.Config));
    expect(sha256(fs.readFileSync(path.join(dir, entry.Config)))).toBe(img.config.digest);
    expect(entry.Layers.map((l: string) => sha256(fs.readFileSync(path.join(dir, l))))).toEqual(
      config.rootfs.diff_ids,
    );
    expect(readJson(path.join(dir, 'repositories'))).toEqual({
      busybox: { '1.36': config.rootfs.diff_ids[1].slice(7) },
    });
    expect(dockerRepoTag('quay.io/org/app')).toBe('quay.io/org/app:latest');
    expect(dockerRepoTag('localhost:5000/app')).toBe('localhost:5000/app:latest');
  });

  it('pause image entrypoint waits and exits 0 on SIGTERM', async () => {
    const archive = path.join(tmp, 'pause.tar');
    const img = await buildPauseImage(archive);
    const rootfs = path.join(tmp, 'pause-rootfs');
    fs.mkdirSync(rootfs);
    const layer = img.blobs.get(img.layers[0]!.digest)!;
    await applyLayer(rootfs, Readable.from([layer]));
    const cfg = JSON.parse(img.blobs.get(img.config.digest)!.toString());
    expect(cfg.config.Entrypoint).toEqual(['/pause']);

    const child = spawn('chroot', [rootfs, ...cfg.config.Entrypoint], { stdio: 'ignore' });
    try {
      const early = await Promise.race([
        new Promise((r) => child.once('exit', () => r('exited'))),
        new Promise((r) => setTimeout(() => r('running'), 500)),
      ]);
      expect(early).toBe('running');
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
