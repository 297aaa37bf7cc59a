// One behavioural suite every snapshotter must pass. It mounts what the
// snapshotter returns, so it needs root; test/snapshots-conformance.test.ts
// runs it for each snapshotter. Every mount and directory a test makes is
// taken down in afterEach, whether the test passed or not.

import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../core/errors/catalogue.js';
import { mountAll, optionsSize, PAGE_SIZE, unmountAll } from '../core/mount/index.js';
import { type Info, Kind, type Mount, type Snapshotter } from '../core/snapshots/types.js';

export interface ConformanceOptions {
  /** Where the temporary roots go (must support the snapshotter); default os.tmpdir(). */
  tmpdir?: string;
}

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  await expect(p).rejects.toMatchObject({ name: 'BerthError', code });
}

export function snapshotterConformance(
  name: string,
  open: (root: string) => Promise<Snapshotter>,
  options: ConformanceOptions = {},
): void {
  describe(`snapshotter conformance: ${name}`, () => {
    let root: string;
    let sn: Snapshotter;
    let targets: string[];

    beforeEach(async () => {
      root = await mkdtemp(path.join(options.tmpdir ?? os.tmpdir(), `berth-snap-${name}-`));
      targets = [];
      sn = await open(path.join(root, 'snapshotter'));
    });

    afterEach(async () => {
      for (const t of targets.reverse()) unmountAll(t);
      await sn?.close().catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    });

    /** Mounts at a fresh directory; afterEach unmounts it. */
    async function mountAt(mounts: Mount[]): Promise<string> {
      const target = path.join(root, 'mnt', String(targets.length));
      await mkdir(target, { recursive: true });
      targets.push(target);
      mountAll(mounts, target);
      return target;
    }

    function release(target: string): void {
      unmountAll(target);
      targets = targets.filter((t) => t !== target);
    }

    /** Prepare `key` on `parent`, write files through the mount, commit as `name`. */
    async function layer(
      name: string,
      parent: string,
      files: Record<string, string>,
      labels?: Record<string, string>,
    ): Promise<void> {
      const key = `${name}-active`;
      const target = await mountAt(await sn.prepare(key, parent));
      for (const [f, content] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(target, f)), { recursive: true });
        await writeFile(path.join(target, f), content);
      }
      release(target);
      await sn.commit(name, key, { labels });
    }

    it('prepare makes an Active snapshot that mounts read-write', async () => {
      const mounts = await sn.prepare('a', '', { labels: { team: 'x', empty: '' } });
      expect(mounts.length).toBeGreaterThan(0);
      const info = await sn.stat('a');
      expect(info).toMatchObject({
        name: 'a',
        parent: '',
        kind: Kind.Active,
        labels: { team: 'x' },
      });
      expect(info.updated.getTime()).toBeGreaterThanOrEqual(info.created.getTime());
      const target = await mountAt(mounts);
      await writeFile(path.join(target, 'hello'), 'world');
      expect(await readFile(path.join(target, 'hello'), 'utf8')).toBe('world');
      // Mounts() answers the same mounts again.
      expect(await sn.mounts('a')).toEqual(mounts);
    });

    it('commit turns Active into Committed under the new name and drops the key', async () => {
      await layer('base', '', { 'etc/os-release': 'base' }, { 'containerd.io/gc.root': 'x' });
      await expectCode(sn.stat('base-active'), 'NotFound');
      const info = await sn.stat('base');
      expect(info).toMatchObject({ name: 'base', parent: '', kind: Kind.Committed });
      // Commit labels replace the active snapshot's labels.
      expect(info.labels).toEqual({ 'containerd.io/gc.root': 'x' });
    });

    it('a snapshot prepared on a committed one sees its files and writes only its own', async () => {
      await layer('base', '', { 'etc/os-release': 'base', 'bin/sh': 'shell' });
      const target = await mountAt(await sn.prepare('work', 'base'));
      expect(await readFile(path.join(target, 'etc/os-release'), 'utf8')).toBe('base');
      await writeFile(path.join(target, 'etc/os-release'), 'changed');
      await writeFile(path.join(target, 'new'), 'n');
      expect((await sn.stat('work')).parent).toBe('base');
      // The committed parent is unchanged.
      const view = await mountAt(await sn.view('check', 'base'));
      expect(await readFile(path.join(view, 'etc/os-release'), 'utf8')).toBe('base');
      await expect(stat(path.join(view, 'new'))).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('parent chains stack layers, nearest parent on top', async () => {
      await layer('l1', '', { a: '1', shared: 'from l1' });
      await layer('l2', 'l1', { b: '2', shared: 'from l2' });
      await layer('l3', 'l2', { c: '3' });
      expect((await sn.stat('l3')).parent).toBe('l2');
      expect((await sn.stat('l2')).parent).toBe('l1');
      const target = await mountAt(await sn.prepare('top', 'l3'));
      expect(await readFile(path.join(target, 'a'), 'utf8')).toBe('1');
      expect(await readFile(path.join(target, 'b'), 'utf8')).toBe('2');
      expect(await readFile(path.join(target, 'c'), 'utf8')).toBe('3');
      expect(await readFile(path.join(target, 'shared'), 'utf8')).toBe('from l2');
    });

    it('views are read-only, with no parent, one parent or several', async () => {
      await layer('l1', '', { a: '1' });
      await layer('l2', 'l1', { b: '2' });
      for (const [key, parent] of [
        ['v0', ''],
        ['v1', 'l1'],
        ['v2', 'l2'],
      ] as const) {
        const mounts = await sn.view(key, parent);
        expect((await sn.stat(key)).kind).toBe(Kind.View);
        const target = await mountAt(mounts);
        await expect(writeFile(path.join(target, 'x'), 'y')).rejects.toMatchObject({
          code: 'EROFS',
        });
        if (parent) expect(await readFile(path.join(target, 'a'), 'utf8')).toBe('1');
        if (parent === 'l2') expect(await readFile(path.join(target, 'b'), 'utf8')).toBe('2');
      }
    });

    it('only committed snapshots can be parents; errors carry containerd codes', async () => {
      await sn.prepare('active', '');
      await sn.view('view', '');
      await expectCode(sn.prepare('child', 'active'), 'InvalidArgument');
      await expectCode(sn.view('child', 'view'), 'InvalidArgument');
      await expectCode(sn.prepare('child', 'missing'), 'NotFound');
      await expectCode(sn.prepare('active', ''), 'AlreadyExists');
      await expectCode(sn.view('active', ''), 'AlreadyExists');
      await expectCode(sn.prepare('', ''), 'InvalidArgument');
      await expectCode(sn.commit('c', 'view'), 'FailedPrecondition');
      await expectCode(sn.commit('c', 'missing'), 'NotFound');
      await sn.prepare('other', '');
      await expectCode(sn.commit('other', 'active'), 'AlreadyExists');
      await expectCode(sn.mounts('missing'), 'NotFound');
      await expectCode(sn.stat('missing'), 'NotFound');
      await expectCode(sn.usage('missing'), 'NotFound');
      await expectCode(sn.remove('missing'), 'NotFound');
      // A failed prepare leaves nothing behind.
      const names: string[] = [];
      await sn.walk((i) => void names.push(i.name));
      expect(names.sort()).toEqual(['active', 'other', 'view']);
    });

    it('remove refuses a snapshot with children, then removes bottom-up', async () => {
      await layer('base', '', { f: 'x' });
      await sn.prepare('kid', 'base');
      await expectCode(sn.remove('base'), 'FailedPrecondition');
      await sn.remove('kid');
      await sn.remove('base');
      await expectCode(sn.stat('base'), 'NotFound');
      // The key can be used again.
      await sn.prepare('base', '');
      expect((await sn.stat('base')).kind).toBe(Kind.Active);
    });

    it('a committed parent with a committed child cannot be removed either', async () => {
      await layer('l1', '', { a: '1' });
      await layer('l2', 'l1', { b: '2' });
      await expectCode(sn.remove('l1'), 'FailedPrecondition');
      await sn.remove('l2');
      await sn.remove('l1');
    });

    it('usage counts bytes and inodes; committed usage is fixed at commit', async () => {
      const target = await mountAt(await sn.prepare('a', ''));
      const empty = await sn.usage('a');
      await writeFile(path.join(target, 'blob'), Buffer.alloc(256 * 1024, 7));
      await mkdir(path.join(target, 'dir'));
      await writeFile(path.join(target, 'dir', 'small'), 'x');
      const used = await sn.usage('a');
      expect(used.size - empty.size).toBeGreaterThanOrEqual(256 * 1024);
      expect(used.inodes - empty.inodes).toBe(3);
      release(target);
      await sn.commit('c', 'a');
      expect(await sn.usage('c')).toEqual(used);
      await sn.view('v', 'c');
      expect(await sn.usage('v')).toEqual({ size: 0, inodes: 0 });
    });

    it('stat, update (field masks) and walk', async () => {
      await layer('base', '', { f: 'x' }, { a: '1', b: '2' });
      await sn.prepare('work', 'base', { labels: { role: 'rootfs' } });
      const before = await sn.stat('base');

      let info = await sn.update({ name: 'base', labels: { b: '', c: '3' } }, [
        'labels.b',
        'labels.c',
      ]);
      expect(info.labels).toEqual({ a: '1', c: '3' });
      expect(info.kind).toBe(Kind.Committed);
      expect(info.created).toEqual(before.created);
      expect(info.updated.getTime()).toBeGreaterThanOrEqual(before.updated.getTime());
      info = await sn.update({ name: 'base', labels: { only: 'this' } }, ['labels']);
      expect(info.labels).toEqual({ only: 'this' });
      info = await sn.update({ name: 'base', labels: { all: 'replaced' } });
      expect(info.labels).toEqual({ all: 'replaced' });
      expect((await sn.stat('base')).labels).toEqual({ all: 'replaced' });
      await expectCode(sn.update({ name: 'base', parent: 'x' }, ['parent']), 'InvalidArgument');
      await expectCode(sn.update({ name: 'missing', labels: {} }), 'NotFound');

      const all: Info[] = [];
      await sn.walk((i) => void all.push(i));
      expect(all.map((i) => [i.name, i.kind, i.parent]).sort()).toEqual([
        ['base', Kind.Committed, ''],
        ['work', Kind.Active, 'base'],
      ]);
      const active: string[] = [];
      await sn.walk(
        (i) => void active.push(i.name),
        (i) => i.kind === Kind.Active,
      );
      expect(active).toEqual(['work']);
    });

    it('records survive closing and reopening the snapshotter', async () => {
      await layer('base', '', { f: 'kept' });
      await sn.prepare('work', 'base', { labels: { k: 'v' } });
      await sn.close();
      sn = await open(path.join(root, 'snapshotter'));
      expect(await sn.stat('work')).toMatchObject({ parent: 'base', labels: { k: 'v' } });
      const target = await mountAt(await sn.mounts('work'));
      expect(await readFile(path.join(target, 'f'), 'utf8')).toBe('kept');
    });

    it('cleanup removes directories without a record and keeps the rest', async () => {
      await layer('base', '', { f: 'x' });
      const stray = path.join(root, 'snapshotter', 'snapshots', '4242');
      await mkdir(path.join(stray, 'fs'), { recursive: true });
      await writeFile(path.join(stray, 'fs', 'junk'), 'junk');
      await sn.cleanup();
      await expect(stat(stray)).rejects.toMatchObject({ code: 'ENOENT' });
      const target = await mountAt(await sn.prepare('work', 'base'));
      expect(await readFile(path.join(target, 'f'), 'utf8')).toBe('x');
    });

    it('remove takes the directory out of snapshots/ at once; trash left by a crash goes on cleanup', async () => {
      const dirs = path.join(root, 'snapshotter', 'snapshots');
      const trash = path.join(root, 'snapshotter', 'trash');
      const before = await readdir(dirs);
      const target = await mountAt(await sn.prepare('work', ''));
      await writeFile(path.join(target, 'f'), 'x');
      release(target);
      await sn.remove('work');
      expect(await readdir(dirs)).toEqual(before);
      await sn.close(); // waits for the deletion
      expect(await readdir(trash)).toEqual([]);
      sn = await open(path.join(root, 'snapshotter'));
      await mkdir(path.join(trash, '7-crashed', 'fs'), { recursive: true });
      await sn.cleanup();
      expect(await readdir(trash)).toEqual([]);
    });

    it('a 128-layer chain mounts and shows every layer, top layer first', async () => {
      let parent = '';
      for (let i = 0; i < 128; i++) {
        await layer(`layer-${i}`, parent, { [`file-${i}`]: String(i), top: String(i) });
        parent = `layer-${i}`;
      }
      const mounts = await sn.prepare('container', parent);
      const overlay = mounts.find((m) => m.type === 'overlay');
      // For overlay this is the long-lowerdir path: the options exceed what
      // the kernel accepts without compaction.
      if (overlay) expect(optionsSize(overlay.options)).toBeGreaterThanOrEqual(PAGE_SIZE - 512);
      const target = await mountAt(mounts);
      expect(await readFile(path.join(target, 'top'), 'utf8')).toBe('127');
      expect(await readFile(path.join(target, 'file-0'), 'utf8')).toBe('0');
      expect(await readFile(path.join(target, 'file-127'), 'utf8')).toBe('127');
      await writeFile(path.join(target, 'written'), 'ok');
      const view = await mountAt(await sn.view('container-view', parent));
      expect(await readFile(path.join(view, 'top'), 'utf8')).toBe('127');
    });
  });
}
