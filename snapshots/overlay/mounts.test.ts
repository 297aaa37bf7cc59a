import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Kind } from '../../core/snapshots/types.js';
import { overlayMounts } from './mounts.js';
import { OverlaySnapshotter } from './overlay.js';

const layout = {
  upperPath: (id: string) => `/r/snapshots/${id}/fs`,
  workPath: (id: string) => `/r/snapshots/${id}/work`,
  indexOff: true,
};

describe('overlayMounts', () => {
  it('binds a snapshot without parents rw (Active) or ro (View)', () => {
    expect(overlayMounts({ id: '1', kind: Kind.Active, parentIds: [] }, layout)).toEqual([
      { type: 'bind', source: '/r/snapshots/1/fs', options: ['rw', 'rbind'] },
    ]);
    expect(overlayMounts({ id: '1', kind: Kind.View, parentIds: [] }, layout)).toEqual([
      { type: 'bind', source: '/r/snapshots/1/fs', options: ['ro', 'rbind'] },
    ]);
  });

  it('binds the parent read-only for a View with one parent', () => {
    expect(overlayMounts({ id: '5', kind: Kind.View, parentIds: ['3'] }, layout)).toEqual([
      { type: 'bind', source: '/r/snapshots/3/fs', options: ['ro', 'rbind'] },
    ]);
  });

  it('overlays Active snapshots with the nearest parent first in lowerdir', () => {
    expect(
      overlayMounts({ id: '9', kind: Kind.Active, parentIds: ['3', '2', '1'] }, layout),
    ).toEqual([
      {
        type: 'overlay',
        source: 'overlay',
        options: [
          'index=off',
          'workdir=/r/snapshots/9/work',
          'upperdir=/r/snapshots/9/fs',
          'lowerdir=/r/snapshots/3/fs:/r/snapshots/2/fs:/r/snapshots/1/fs',
        ],
      },
    ]);
  });

  it('overlays a View of a chain with lowerdirs only', () => {
    expect(
      overlayMounts(
        { id: '9', kind: Kind.View, parentIds: ['3', '2'] },
        { ...layout, indexOff: false },
      ),
    ).toEqual([
      {
        type: 'overlay',
        source: 'overlay',
        options: ['lowerdir=/r/snapshots/3/fs:/r/snapshots/2/fs'],
      },
    ]);
  });
});

describe('OverlaySnapshotter layout (no mounts)', () => {
  let root: string;
  let sn: OverlaySnapshotter;
  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'berth-ovl-'));
    sn = await OverlaySnapshotter.open(root, { checkSupport: false, indexOff: false });
  });
  afterEach(async () => {
    await sn.close();
    await rm(root, { recursive: true, force: true });
  });

  it('creates snapshots/<id>/{fs,work} and returns mounts that point there', async () => {
    const m = await sn.prepare('a', '');
    expect(m).toEqual([
      { type: 'bind', source: `${root}/snapshots/1/fs`, options: ['rw', 'rbind'] },
    ]);
    expect((await stat(`${root}/snapshots/1/fs`)).mode & 0o7777).toBe(0o755);
    expect((await stat(`${root}/snapshots/1/work`)).isDirectory()).toBe(true);
    await sn.commit('base', 'a');
    const v = await sn.view('v', 'base');
    expect(v[0]!.source).toBe(`${root}/snapshots/1/fs`);
    // A View gets no work dir.
    await expect(stat(`${root}/snapshots/2/work`)).rejects.toMatchObject({ code: 'ENOENT' });
    const top = await sn.prepare('top', 'base');
    expect(top[0]!.options).toEqual([
      `workdir=${root}/snapshots/3/work`,
      `upperdir=${root}/snapshots/3/fs`,
      `lowerdir=${root}/snapshots/1/fs`,
    ]);
    await sn.remove('top');
    await expect(stat(`${root}/snapshots/3`)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('leaves no directory behind when the record cannot be created', async () => {
    await sn.prepare('a', '');
    await expect(sn.prepare('a', '')).rejects.toMatchObject({ code: 'AlreadyExists' });
    await expect(sn.prepare('b', 'a')).rejects.toMatchObject({ code: 'InvalidArgument' });
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(`${root}/snapshots`)).toEqual(['1']);
  });
});
