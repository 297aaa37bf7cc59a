// Applying layers onto directories: the fixture image, file types and
// attributes, whiteouts and opaque directories in both renderings (plain tree,
// and overlay upperdir checked through a real overlay mount).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../core/errors/catalogue.js';
import { MNT, lgetxattr, makedev, mount, umount2 } from '../native/index.js';
import { applyLayer } from '../core/diff/apply.js';
import { busyboxAvailable } from './fixtures/busybox-rootfs.js';
import { BUSYBOX_IMAGE, busyboxImage, type BuiltImage } from './fixtures/image-builder.js';
import { makeTar, rejection, stream, type Entry } from './layer-apply-helpers.js';

const isRoot = process.getuid?.() === 0;
const T0 = new Date(1_600_000_000_000);
const T1 = new Date(1_650_000_000_000);

describe.skipIf(!isRoot)('applyLayer', () => {
  let tmp: string;
  let mounted: string[] = [];
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-apply-'));
    mounted = [];
  });
  afterEach(() => {
    for (const m of mounted.reverse()) {
      try {
        umount2(m, MNT.DETACH);
      } catch {
        // already unmounted by the test
      }
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  const dir = (name: string) => {
    const d = path.join(tmp, name);
    fs.mkdirSync(d, { recursive: true });
    return d;
  };

  it('creates every entry type with owners, modes, xattrs, devices and times; diffID covers the stream', async () => {
    const tar = await makeTar([
      { name: 'd', type: 'directory', mode: 0o1777, mtime: T0 },
      { name: 'd/setuid', mode: 0o4755, uid: 1000, gid: 2000, data: 'x', mtime: T1 },
      { name: 'd/setgid', mode: 0o2711, data: 'y' },
      { name: 'd/link', type: 'link', linkname: 'd/setuid' },
      { name: 'd/sym', type: 'symlink', linkname: '../nowhere', uid: 5, gid: 6 },
      { name: 'dev/null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 },
      { name: 'dev/loopx', type: 'block-device', mode: 0o660, devmajor: 7, devminor: 200 },
      { name: 'dev/fifo', type: 'fifo', mode: 0o600 },
      {
        name: 'xattr',
        data: 'z',
        pax: { 'SCHILY.xattr.user.note': 'hello', 'SCHILY.xattr.trusted.k': 'v' },
      },
      { name: `long/${'n'.repeat(200)}`, data: 'long' },
    ]);
    const root = dir('root');
    const res = await applyLayer(root, stream(tar));
    expect(res).toEqual({
      size: tar.length,
      diffId: `sha256:${createHash('sha256').update(tar).digest('hex')}`,
      compression: 'none',
    });

    const st = (p: string) => fs.lstatSync(path.join(root, p));
    expect(st('d').mode & 0o7777).toBe(0o1777);
    expect(st('d').mtimeMs).toBe(T0.getTime()); // set after its children were created
    expect(st('d/setuid')).toMatchObject({ uid: 1000, gid: 2000, nlink: 2, mtimeMs: T1.getTime() });
    expect(st('d/setuid').mode & 0o7777).toBe(0o4755);
    expect(st('d/setgid').mode & 0o7777).toBe(0o2711);
    expect(st('d/link').ino).toBe(st('d/setuid').ino);
    expect(fs.readlinkSync(path.join(root, 'd/sym'))).toBe('../nowhere');
    expect(st('d/sym')).toMatchObject({ uid: 5, gid: 6 });
    expect(st('dev/null').isCharacterDevice() && st('dev/null').rdev).toBe(makedev(1, 3));
    expect(st('dev/loopx').isBlockDevice() && st('dev/loopx').rdev).toBe(makedev(7, 200));
    expect(st('dev/fifo').isFIFO()).toBe(true);
    expect(lgetxattr(path.join(root, 'xattr'), 'user.note')?.toString()).toBe('hello');
    expect(lgetxattr(path.join(root, 'xattr'), 'trusted.k')?.toString()).toBe('v');
    expect(fs.readFileSync(path.join(root, 'long', 'n'.repeat(200)), 'utf8')).toBe('long');
  });

  it('replaces existing non-directories, keeps existing directories and replaces their attributes', async () => {
    const root = dir('root');
    fs.writeFileSync(path.join(root, 'was-file'), 'old');
    fs.mkdirSync(path.join(root, 'was-dir'));
    fs.writeFileSync(path.join(root, 'was-dir', 'child'), 'c');
    fs.mkdirSync(path.join(root, 'kept'), 0o755);
    fs.writeFileSync(path.join(root, 'kept', 'lower'), 'l');
    fs.writeFileSync(path.join(root, 'hard-target'), 'shared');
    fs.linkSync(path.join(root, 'hard-target'), path.join(root, 'hard-alias'));
    const tar = await makeTar([
      { name: 'was-file', type: 'directory', mode: 0o750 },
      { name: 'was-dir', data: 'now a file' },
      { name: 'kept', type: 'directory', mode: 0o700, uid: 42, gid: 43, mtime: T0 },
      // writing a new file over one of two hard links must not change the other
      { name: 'hard-alias', data: 'replaced' },
    ]);
    await applyLayer(root, stream(tar));
    expect(fs.lstatSync(path.join(root, 'was-file')).isDirectory()).toBe(true);
    expect(fs.readFileSync(path.join(root, 'was-dir'), 'utf8')).toBe('now a file');
    const kept = fs.lstatSync(path.join(root, 'kept'));
    expect([kept.mode & 0o7777, kept.uid, kept.gid, kept.mtimeMs]).toEqual([
      0o700,
      42,
      43,
      T0.getTime(),
    ]);
    expect(fs.readFileSync(path.join(root, 'kept', 'lower'), 'utf8')).toBe('l');
    expect(fs.readFileSync(path.join(root, 'hard-target'), 'utf8')).toBe('shared');
    expect(fs.readFileSync(path.join(root, 'hard-alias'), 'utf8')).toBe('replaced');
  });

  it('reads gzip layers and GNU-format archives (long names via L/K records)', async () => {
    const src = dir('src');
    const long = path.join('a'.repeat(80), 'b'.repeat(80), 'c'.repeat(80));
    fs.mkdirSync(path.join(src, long), { recursive: true });
    fs.writeFileSync(path.join(src, long, 'f'), 'gnu');
    fs.symlinkSync('t'.repeat(150), path.join(src, 'sym'));
    const tgz = execFileSync('tar', ['--format=gnu', '-C', src, '-czf', '-', '.']);
    const root = dir('root');
    const res = await applyLayer(root, stream(tgz));
    expect(res.compression).toBe('gzip');
    expect(res.diffId).toBe(
      `sha256:${createHash('sha256')
        .update(execFileSync('gunzip', ['-c'], { input: tgz }))
        .digest('hex')}`,
    );
    expect(fs.readFileSync(path.join(root, long, 'f'), 'utf8')).toBe('gnu');
    expect(fs.readlinkSync(path.join(root, 'sym'))).toBe('t'.repeat(150));
  });

  it('reports a truncated gzip layer as DataLoss and corrupt data as DataLoss', async () => {
    const tgz = await makeTar(
      [
        { name: 'big', data: Buffer.alloc(1 << 20, 'a') },
        { name: 'f', data: 'x' },
      ],
      { gzip: true },
    );
    const truncated = await rejection(
      applyLayer(dir('r1'), stream(tgz.subarray(0, tgz.length - 200))),
    );
    expect(isBerthError(truncated, 'DataLoss')).toBe(true);
    expect((truncated as Error).message).toMatch(/gzip/);
    const corrupt = Buffer.from(tgz);
    corrupt.fill(0x55, 100, 140);
    const bad = await rejection(applyLayer(dir('r2'), stream(corrupt)));
    expect(isBerthError(bad, 'DataLoss') || isBerthError(bad, 'InvalidArgument')).toBe(true);
    const zstd = await rejection(
      applyLayer(dir('r3'), stream(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4]))),
    );
    expect(isBerthError(zstd, 'NotImplemented')).toBe(true);
  });

  describe('whiteouts', () => {
    const base: Entry[] = [
      { name: 'a', type: 'directory', mode: 0o755 },
      { name: 'a/b', type: 'directory', mode: 0o755 },
      { name: 'a/b/c', type: 'directory', mode: 0o755 },
      { name: 'a/b/c/bar', data: 'lower' },
      { name: 'a/keep-not', data: 'lower' },
      { name: 'x', type: 'directory', mode: 0o755 },
      { name: 'x/y', data: 'lower' },
      { name: 'x/z', data: 'lower' },
      { name: 'top', data: 'lower' },
      { name: 'tree', type: 'directory', mode: 0o755 },
      { name: 'tree/deep', type: 'directory', mode: 0o755 },
      { name: 'tree/deep/file', data: 'lower' },
    ];
    // The opaque marker comes after its siblings: it must still only hide lower content.
    const upper: Entry[] = [
      { name: 'a', type: 'directory', mode: 0o755 },
      { name: 'a/b', type: 'directory', mode: 0o755 },
      { name: 'a/b/c', type: 'directory', mode: 0o755 },
      { name: 'a/b/c/foo', data: 'upper' },
      { name: 'a/.wh..wh..opq', data: '' },
      { name: '.wh.top', data: '' },
      { name: 'x/.wh.y', data: '' },
      { name: '.wh.tree', data: '' },
      { name: 'same', data: 'same layer' },
      { name: '.wh.same', data: '' }, // a whiteout never hides its own layer's files
      { name: '.wh..wh.plnk', type: 'directory' }, // AUFS metadata, never extracted
    ];
    const expectMerged = (merged: string) => {
      const ls = (p: string) => fs.readdirSync(path.join(merged, p)).sort();
      expect(ls('')).toEqual(['a', 'same', 'x']);
      expect(ls('a')).toEqual(['b']);
      expect(ls('a/b/c')).toEqual(['foo']);
      expect(ls('x')).toEqual(['z']);
      expect(fs.readFileSync(path.join(merged, 'same'), 'utf8')).toBe('same layer');
    };

    it('remove lower content in a plain directory, opaque pruning lower descendants', async () => {
      const root = dir('root');
      await applyLayer(root, stream(await makeTar(base)));
      await applyLayer(root, stream(await makeTar(upper)));
      expectMerged(root);
    });

    it('become overlayfs whiteouts and opaque xattrs in an upperdir, hiding lower files when mounted', async () => {
      const lower = dir('lower');
      const up = dir('upper');
      const work = dir('work');
      const merged = dir('merged');
      await applyLayer(lower, stream(await makeTar(base)));
      await applyLayer(up, stream(await makeTar(upper)), {
        overlayUpper: true,
        lowerDirs: [lower],
      });

      const top = fs.lstatSync(path.join(up, 'top'));
      expect(top.isCharacterDevice() && top.rdev).toBe(0);
      expect(fs.lstatSync(path.join(up, 'x/y')).isCharacterDevice()).toBe(true);
      expect(lgetxattr(path.join(up, 'a'), 'trusted.overlay.opaque')?.toString()).toBe('y');
      expect(fs.existsSync(path.join(up, '.wh..wh.plnk'))).toBe(false);
      // x was not in the layer: it was created in the upperdir with the lower's attributes
      expect(fs.lstatSync(path.join(up, 'x')).mtimeMs).toBe(
        fs.lstatSync(path.join(lower, 'x')).mtimeMs,
      );

      mount('overlay', merged, 'overlay', 0, `lowerdir=${lower},upperdir=${up},workdir=${work}`);
      mounted.push(merged);
      try {
        expectMerged(merged);
      } finally {
        umount2(merged);
        mounted.pop();
      }
    });

    it('in overlay mode, a directory recreated over its own whiteout is opaque', async () => {
      const lower = dir('lower');
      const up = dir('upper');
      const work = dir('work');
      const merged = dir('merged');
      await applyLayer(lower, stream(await makeTar(base)));
      await applyLayer(
        up,
        stream(
          await makeTar([
            { name: '.wh.x', data: '' },
            { name: 'x', type: 'directory', mode: 0o700 },
            { name: 'x/new', data: 'n' },
          ]),
        ),
        { overlayUpper: true, lowerDirs: [lower] },
      );
      mount('overlay', merged, 'overlay', 0, `lowerdir=${lower},upperdir=${up},workdir=${work}`);
      mounted.push(merged);
      try {
        expect(fs.readdirSync(path.join(merged, 'x'))).toEqual(['new']);
      } finally {
        umount2(merged);
        mounted.pop();
      }
    });
  });

  describe.skipIf(!busyboxAvailable())('fixture image', () => {
    let img: BuiltImage;
    beforeAll(async () => {
      img = await busyboxImage();
    });

    it('unpacks both layers plainly and as overlay layers with the same merged result', async () => {
      const [l1, l2] = img.layers.map((l) => img.blobs.get(l.digest)!);
      const plain = dir('plain');
      expect((await applyLayer(plain, stream(l1!))).diffId).toBe(img.layers[0]!.diffId);
      expect((await applyLayer(plain, stream(l2!))).diffId).toBe(img.layers[1]!.diffId);
      expect(fs.existsSync(path.join(plain, BUSYBOX_IMAGE.whitedOut))).toBe(false);
      expect(fs.readFileSync(path.join(plain, BUSYBOX_IMAGE.added), 'utf8')).toBe(
        BUSYBOX_IMAGE.addedContent,
      );
      expect(
        execFileSync('chroot', [plain, '/bin/busybox', 'echo', 'ok'], { encoding: 'utf8' }),
      ).toBe('ok\n');

      const lower = dir('lower');
      const up = dir('upper');
      const merged = dir('merged');
      await applyLayer(lower, stream(l1!));
      await applyLayer(up, stream(l2!), { overlayUpper: true, lowerDirs: [lower] });
      mount(
        'overlay',
        merged,
        'overlay',
        0,
        `lowerdir=${lower},upperdir=${up},workdir=${dir('work')}`,
      );
      mounted.push(merged);
      try {
        expect(fs.readdirSync(path.join(merged, 'etc')).sort()).toEqual(
          fs.readdirSync(path.join(plain, 'etc')).sort(),
        );
        expect(fs.readdirSync(path.join(merged, 'bin')).length).toBe(
          fs.readdirSync(path.join(plain, 'bin')).length,
        );
      } finally {
        umount2(merged);
        mounted.pop();
      }
    });
  });
});
