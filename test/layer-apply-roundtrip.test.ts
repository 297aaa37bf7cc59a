// Producing layers and applying them back: a tree archived with tarDirectory
// and applied elsewhere is identical (types, modes, owners, xattrs, symlinks,
// hard links, devices, mtimes); a writeDiff of lower -> upper applied onto a
// copy of lower reproduces upper, both as a plain tree and through overlayfs.

import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MNT, S_IF, lsetxattr, makedev, mknod, mount, umount2 } from '../native/index.js';
import { applyLayer } from '../core/diff/apply.js';
import { tarDirectory, writeDiff } from '../core/diff/diff.js';
import { snapshotTree } from './layer-apply-helpers.js';

const isRoot = process.getuid?.() === 0;

/** A tree with one of everything a layer can carry, with fixed times. */
function populate(dir: string): void {
  const p = (r: string) => path.join(dir, r);
  const t = (r: string, sec: number) => fs.lutimesSync(p(r), sec, sec);
  fs.mkdirSync(p('etc/conf.d'), { recursive: true });
  fs.mkdirSync(p('usr/bin'), { recursive: true });
  fs.mkdirSync(p('tmp'));
  fs.mkdirSync(p('dev'));
  fs.mkdirSync(p('empty-dir'));
  fs.mkdirSync(p('doomed-dir/sub'), { recursive: true });
  fs.writeFileSync(p('doomed-dir/sub/f'), 'doomed');
  fs.writeFileSync(p('etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  fs.writeFileSync(p('etc/conf.d/a.conf'), 'a=1\n');
  fs.writeFileSync(p('etc/doomed'), 'bye\n');
  fs.writeFileSync(p('etc/replaced-by-dir'), 'file\n');
  fs.writeFileSync(p('empty'), '');
  fs.writeFileSync(p('usr/bin/big'), randomBytes(3 << 20));
  fs.writeFileSync(p('usr/bin/su'), 'setuid');
  fs.chmodSync(p('usr/bin/su'), 0o4755);
  fs.writeFileSync(p('usr/bin/wall'), 'setgid');
  fs.chownSync(p('usr/bin/wall'), 0, 5);
  fs.chmodSync(p('usr/bin/wall'), 0o2755);
  fs.chmodSync(p('tmp'), 0o1777);
  fs.writeFileSync(p('owned'), 'owned');
  fs.chownSync(p('owned'), 1000, 2000);
  fs.chmodSync(p('owned'), 0o640);
  fs.linkSync(p('usr/bin/su'), p('usr/bin/su-alias'));
  fs.symlinkSync('../etc/passwd', p('usr/passwd-link'));
  fs.symlinkSync('/does/not/exist', p('dangling'));
  fs.lchownSync(p('dangling'), 7, 8);
  mknod(p('dev/null'), S_IF.CHR | 0o666, makedev(1, 3));
  mknod(p('dev/loop9'), S_IF.BLK | 0o660, makedev(7, 9));
  mknod(p('dev/fifo'), S_IF.FIFO | 0o600, 0);
  fs.chmodSync(p('dev/null'), 0o666); // mknod's mode is subject to the umask
  lsetxattr(p('usr/bin/big'), 'user.origin', Buffer.from('test'));
  lsetxattr(p('usr/bin/big'), 'trusted.binary', Buffer.from([0, 1, 0xff, 0x0a, 0x3d, 0x80]));
  lsetxattr(p('etc'), 'user.dir-attr', Buffer.from('d'));
  const long = p(`${'l'.repeat(100)}/${'m'.repeat(100)}`);
  fs.mkdirSync(long, { recursive: true });
  fs.writeFileSync(path.join(long, 'n'.repeat(200)), 'long');
  // times last, deepest first, so creating children does not move them
  const all = execFileSync('find', [dir, '-mindepth', '1', '-depth'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  let sec = 1_500_000_000;
  for (const f of all) t(path.relative(dir, f), sec++);
}

/** Changes applied to a copy of the populated tree. */
function modify(dir: string): void {
  const p = (r: string) => path.join(dir, r);
  fs.rmSync(p('etc/doomed'));
  fs.rmSync(p('doomed-dir'), { recursive: true });
  fs.rmSync(p('etc/replaced-by-dir'));
  fs.mkdirSync(p('etc/replaced-by-dir'));
  fs.writeFileSync(p('etc/replaced-by-dir/inner'), 'inner');
  fs.writeFileSync(p('etc/passwd'), 'root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home:/bin/sh\n');
  fs.chmodSync(p('etc/conf.d/a.conf'), 0o600);
  fs.rmSync(p('empty-dir'), { recursive: true });
  fs.symlinkSync('etc', p('empty-dir'));
  fs.writeFileSync(p('added'), 'new file');
  fs.linkSync(p('added'), p('added-link'));
  lsetxattr(p('owned'), 'user.new', Buffer.from('x'));
  fs.utimesSync(p('etc/conf.d'), 1_600_000_000, 1_600_000_000);
}

async function applyFile(root: string, file: string, opts = {}) {
  return applyLayer(root, fs.createReadStream(file), opts);
}

describe.skipIf(!isRoot)('layer round trip', () => {
  let tmp: string;
  const mounted: string[] = [];
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-roundtrip-'));
  });
  afterEach(() => {
    for (const m of mounted.splice(0).reverse()) {
      try {
        umount2(m, MNT.DETACH);
      } catch {
        // unmounted by the test already
      }
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  const dir = (name: string) => {
    const d = path.join(tmp, name);
    fs.mkdirSync(d);
    return d;
  };

  for (const compression of ['gzip', 'none'] as const) {
    it(`tarDirectory -> applyLayer reproduces the tree (${compression})`, async () => {
      const src = dir('src');
      populate(src);
      const layer = path.join(tmp, 'layer');
      const res = await tarDirectory(src, layer, { compression });
      const blob = fs.readFileSync(layer);
      expect(res.digest).toBe(`sha256:${createHash('sha256').update(blob).digest('hex')}`);
      expect(res.size).toBe(blob.length);

      const dst = dir('dst');
      const applied = await applyFile(dst, layer);
      expect(applied.diffId).toBe(res.diffId);
      expect(applied.size).toBe(res.uncompressedSize);
      expect(applied.compression).toBe(compression);
      const want = snapshotTree(src);
      expect(snapshotTree(dst)).toEqual(want);
      // the comparison covers what it should
      expect(want['dev/null']).toMatchObject({ type: 'char', rdev: makedev(1, 3), mode: 0o666 });
      expect(want['usr/bin/big']!.xattrs).toEqual({
        'trusted.binary': '0001ff0a3d80',
        'user.origin': '74657374',
      });
      expect(want['usr/bin/su-alias']!.linkGroup).toBe('usr/bin/su');
      expect(want['usr/bin/su']).toMatchObject({ mode: 0o4755, mtime: expect.any(Number) });
      expect(want['dangling']).toMatchObject({ link: '/does/not/exist', uid: 7, gid: 8 });

      // GNU tar agrees on the contents of what we wrote
      const list = execFileSync('tar', ['-tvf', layer, '--numeric-owner'], { encoding: 'utf8' });
      expect(list).toContain('usr/bin/su-alias link to usr/bin/su');
      expect(list).toMatch(/-rw-r----- 1000\/2000 .* owned/);
    });
  }

  it('produces the same bytes for the same tree', async () => {
    const src = dir('src');
    populate(src);
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const a = await tarDirectory(src, out, { mtime: 0 });
    const b = await tarDirectory(src, path.join(tmp, 'b'), { mtime: 0 });
    expect(a.digest).toBe(b.digest);
    expect(Buffer.concat(chunks).equals(fs.readFileSync(path.join(tmp, 'b')))).toBe(true);
  });

  it('writeDiff(lower, upper) applied onto lower gives upper, plainly and through overlayfs', async () => {
    const lower = dir('lower');
    populate(lower);
    const upper = path.join(tmp, 'upper');
    execFileSync('cp', ['-a', lower, upper]);
    modify(upper);

    const layer = path.join(tmp, 'diff.tar.gz');
    const res = await writeDiff(lower, upper, layer);
    const names = execFileSync('tar', ['-tzf', layer], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    expect(names).toContain('etc/.wh.doomed');
    expect(names).toContain('.wh.doomed-dir');
    expect(names).not.toContain('usr/bin/big'); // unchanged files are not carried
    expect(names.indexOf('etc/.wh.doomed')).toBeLessThan(names.indexOf('etc/conf.d/'));

    const plain = path.join(tmp, 'plain');
    execFileSync('cp', ['-a', lower, plain]);
    expect((await applyFile(plain, layer)).diffId).toBe(res.diffId);
    expect(snapshotTree(plain)).toEqual(snapshotTree(upper));

    const ovUpper = dir('ov-upper');
    const merged = dir('merged');
    await applyFile(ovUpper, layer, { overlayUpper: true, lowerDirs: [lower] });
    mount(
      'overlay',
      merged,
      'overlay',
      0,
      `lowerdir=${lower},upperdir=${ovUpper},workdir=${dir('work')}`,
    );
    mounted.push(merged);
    try {
      // overlayfs reports a lower file's hard links per layer; compare without link groups
      const strip = (t: ReturnType<typeof snapshotTree>) =>
        Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { ...v, linkGroup: undefined }]));
      expect(strip(snapshotTree(merged, { skipXattrs: ['trusted.overlay.'] }))).toEqual(
        strip(snapshotTree(upper)),
      );
    } finally {
      umount2(merged);
      mounted.pop();
    }
  });
});
