// Hostile layers must not write outside the target root. Each case applies a
// crafted archive and then proves the sentinel tree next to the root (and the
// parent temp dir) is byte-for-byte and attribute-for-attribute unchanged.
// Hostile paths point at the sentinel, never at real host files.

import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../core/errors/catalogue.js';
import { applyLayer, type ApplyOptions } from '../core/diff/apply.js';
import { makeTar, rejection, snapshotTree, stream, type Entry } from './layer-apply-helpers.js';

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('hostile layers', () => {
  let tmp: string;
  let root: string;
  let outside: string;
  let tag: string;
  let before: ReturnType<typeof snapshotTree>;

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-hostile-'));
    root = path.join(tmp, 'root');
    outside = path.join(tmp, 'outside');
    tag = randomUUID().slice(0, 8);
    fs.mkdirSync(root);
    fs.mkdirSync(path.join(outside, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(outside, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
    fs.writeFileSync(path.join(outside, 'secret'), 'do not touch\n', { mode: 0o600 });
    fs.mkdirSync(path.join(outside, 'dir'), { mode: 0o755 });
    fs.writeFileSync(path.join(outside, 'dir', 'keep'), 'keep\n');
    before = snapshotTree(tmp, { exclude: ['root'] });
  });

  afterEach(() => {
    const after = snapshotTree(tmp, { exclude: ['root'] });
    fs.rmSync(tmp, { recursive: true, force: true });
    for (const name of [`escape-${tag}`, `abs-${tag}`, `dev-${tag}`]) {
      const stray = path.join(os.tmpdir(), name);
      const existed = fs.existsSync(stray);
      fs.rmSync(stray, { force: true, recursive: true });
      expect(existed, `${stray} was written outside the root`).toBe(false);
    }
    // the check every case relies on: nothing next to the root changed
    expect(after).toEqual(before);
  });

  const apply = async (entries: Entry[], opts: ApplyOptions = {}) =>
    applyLayer(root, stream(await makeTar(entries)), opts);
  const inRoot = (p: string) => path.join(root, p);

  for (const overlayUpper of [false, true]) {
    describe(overlayUpper ? 'overlay upperdir mode' : 'plain mode', () => {
      const opts = { overlayUpper };

      it('clamps ../ names at the root', async () => {
        await apply(
          [
            { name: `../../escape-${tag}`, data: 'x' },
            { name: `a/../../../../escape-${tag}-2`, data: 'y' },
            // long enough to go through a PAX path record
            { name: `${'../'.repeat(30)}${'p'.repeat(120)}`, data: 'pax' },
          ],
          opts,
        );
        expect(fs.readFileSync(inRoot(`escape-${tag}`), 'utf8')).toBe('x');
        expect(fs.readFileSync(inRoot(`escape-${tag}-2`), 'utf8')).toBe('y');
        expect(fs.readFileSync(inRoot('p'.repeat(120)), 'utf8')).toBe('pax');
      });

      it('keeps absolute names inside the root', async () => {
        await apply(
          [
            { name: path.join(outside, 'secret'), data: 'pwned' },
            { name: `/abs-${tag}`, data: 'a' },
          ],
          opts,
        );
        expect(fs.readFileSync(path.join(root, outside, 'secret'), 'utf8')).toBe('pwned');
        expect(fs.readFileSync(inRoot(`abs-${tag}`), 'utf8')).toBe('a');
      });

      it('does not write through a symlink to outside (etc -> <outside>/etc, then etc/passwd)', async () => {
        await apply(
          [
            { name: 'etc', type: 'symlink', linkname: path.join(outside, 'etc') },
            { name: 'etc/passwd', data: 'evil::0:0::/:/bin/sh\n' },
            { name: 'etc/newfile', data: 'new' },
          ],
          opts,
        );
        expect(fs.readlinkSync(inRoot('etc'))).toBe(path.join(outside, 'etc'));
        expect(fs.readFileSync(path.join(root, outside, 'etc', 'passwd'), 'utf8')).toMatch(/^evil/);
      });

      it('re-roots relative symlinks that climb out, and chains of them', async () => {
        const rel = path.relative('/', outside);
        await apply(
          [
            { name: 'up', type: 'symlink', linkname: `${'../'.repeat(12)}${rel}` },
            { name: 'up/secret', data: 'pwned' },
            { name: 'hop1', type: 'symlink', linkname: 'hop2/dir' },
            { name: 'hop2', type: 'symlink', linkname: '/./up/' },
            { name: 'hop1/keep', data: 'pwned' },
            { name: 'dotdot', type: 'symlink', linkname: '..' },
            { name: 'dotdot/dotdot/dotdot/secret', data: 'pwned' },
            { name: 'sub/back', type: 'symlink', linkname: '../../..' },
            { name: 'sub/back/dir/keep', data: 'pwned' },
          ],
          opts,
        );
        expect(fs.readFileSync(path.join(root, outside, 'secret'), 'utf8')).toBe('pwned');
        expect(fs.readFileSync(path.join(root, outside, 'dir', 'keep'), 'utf8')).toBe('pwned');
        expect(fs.readFileSync(inRoot('secret'), 'utf8')).toBe('pwned');
        expect(fs.readFileSync(inRoot('dir/keep'), 'utf8')).toBe('pwned');
      });

      it('refuses hard links to files outside the root', async () => {
        for (const linkname of [
          path.join(outside, 'secret'),
          '../outside/secret',
          `${'../'.repeat(8)}${path.relative('/', outside)}/secret`,
        ]) {
          const err = await rejection(apply([{ name: 'hl', type: 'link', linkname }], opts));
          expect(isBerthError(err, 'InvalidArgument'), String(err)).toBe(true);
          expect(fs.existsSync(inRoot('hl'))).toBe(false);
        }
        // through a symlink planted in the same layer
        const err = await rejection(
          apply(
            [
              { name: 'lnk', type: 'symlink', linkname: outside },
              { name: 'hl2', type: 'link', linkname: 'lnk/secret' },
            ],
            opts,
          ),
        );
        expect(isBerthError(err, 'InvalidArgument'), String(err)).toBe(true);
        expect(fs.statSync(path.join(outside, 'secret')).nlink).toBe(1);
      });

      it('does not follow a directory that is swapped for a symlink mid-layer', async () => {
        await apply(
          [
            { name: 'd', type: 'directory', mode: 0o755 },
            { name: 'd/a', data: 'inside' },
            { name: 'd', type: 'symlink', linkname: path.join(outside, 'dir') },
            { name: 'd/keep', data: 'pwned' },
            { name: 'd/newdir', type: 'directory', mode: 0o700 },
          ],
          opts,
        );
        expect(fs.readlinkSync(inRoot('d'))).toBe(path.join(outside, 'dir'));
        expect(fs.readFileSync(path.join(root, outside, 'dir', 'keep'), 'utf8')).toBe('pwned');
      });

      it('replaces a symlink rather than writing or chmod-ing through it', async () => {
        await apply(
          [
            { name: 'f', type: 'symlink', linkname: path.join(outside, 'secret') },
            { name: 'f', data: 'replaced', mode: 0o777 },
            { name: 'dl', type: 'symlink', linkname: path.join(outside, 'dir') },
            { name: 'dl', type: 'directory', mode: 0o700, uid: 1234, gid: 1234 },
            { name: 'dev', type: 'symlink', linkname: outside },
            { name: 'dev', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
          ],
          opts,
        );
        expect(fs.lstatSync(inRoot('f')).isFile()).toBe(true);
        expect(fs.lstatSync(inRoot('dl')).isDirectory()).toBe(true);
        expect(fs.lstatSync(inRoot('dev')).isCharacterDevice()).toBe(true);
      });

      it('keeps device nodes and fifos inside the root', async () => {
        await apply(
          [
            { name: `../dev-${tag}`, type: 'character-device', devmajor: 1, devminor: 3 },
            { name: 'pipe', type: 'symlink', linkname: outside },
            { name: 'pipe/fifo', type: 'fifo' },
            { name: 'pipe/blk', type: 'block-device', devmajor: 7, devminor: 0 },
          ],
          opts,
        );
        expect(fs.lstatSync(inRoot(`dev-${tag}`)).isCharacterDevice()).toBe(true);
        expect(fs.lstatSync(path.join(root, outside, 'fifo')).isFIFO()).toBe(true);
      });

      it('does not delete through symlinks with whiteouts or opaque markers', async () => {
        await apply(
          [
            { name: 'w', type: 'symlink', linkname: outside },
            { name: 'w/.wh.secret', data: '' },
            { name: 'w/dir/.wh..wh..opq', data: '' },
            { name: `.wh.${'..'}/outside`, data: '' },
            { name: '../outside/.wh.secret', data: '' },
            { name: `${outside}/.wh.dir`, data: '' },
          ],
          opts,
        );
      });

      it('rejects malformed whiteouts and symlink loops with InvalidArgument', async () => {
        for (const entries of [
          [{ name: 'x/.wh.', data: '' }],
          [{ name: 'x/.wh...', data: '' }],
          [
            { name: 'l1', type: 'symlink', linkname: 'l2' },
            { name: 'l2', type: 'symlink', linkname: 'l1' },
            { name: 'l1/f', data: '' },
          ],
        ] as Entry[][]) {
          const err = await rejection(apply(entries, opts));
          expect(isBerthError(err, 'InvalidArgument'), String(err)).toBe(true);
        }
      });
    });
  }

  it('a truncated gzip layer fails with a clear error and writes nothing outside', async () => {
    const tgz = await makeTar(
      [
        { name: 'etc', type: 'symlink', linkname: path.join(outside, 'etc') },
        { name: 'big', data: Buffer.alloc(256 * 1024, 7) },
        { name: 'etc/passwd', data: 'evil' },
      ],
      { gzip: true },
    );
    const err = await rejection(
      applyLayer(root, stream(tgz.subarray(0, Math.floor(tgz.length / 2)))),
    );
    expect(isBerthError(err, 'DataLoss'), String(err)).toBe(true);
  });
});
