import { describe, expect, it } from 'vitest';
import { commonDirectory, compactLowerdir, optionsSize, PAGE_SIZE } from './compaction.js';

const root = '/var/lib/berth/io.berth.snapshotter.v1.overlayfs/snapshots';
const lowers = (n: number) => Array.from({ length: n }, (_, i) => `${root}/${n - i}/fs`);

describe('commonDirectory', () => {
  it('cuts back to a whole path component', () => {
    expect(commonDirectory([`${root}/12/fs`, `${root}/13/fs`])).toBe(root);
    expect(commonDirectory([`${root}/1/fs`, `${root}/12/fs`])).toBe(root);
    expect(commonDirectory(['/a/b/c', '/a/b/d/e'])).toBe('/a/b');
    expect(commonDirectory(['/a/bc', '/a/b'])).toBe('/a');
    expect(commonDirectory(['/x/fs', '/x/fs'])).toBe('/x');
    expect(commonDirectory(['/a/x', '/b/y'])).toBe('');
  });
});

describe('compactLowerdir', () => {
  it('leaves short options and other mount types alone', () => {
    const m = { type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers(3).join(':')}`] };
    expect(compactLowerdir(m)).toEqual({ mount: m });
    const bind = { type: 'bind', source: '/x', options: ['rbind', 'x'.repeat(5000)] };
    expect(compactLowerdir(bind)).toEqual({ mount: bind });
  });

  it('compacts at page size minus 512 into relative lowerdirs from the common directory', () => {
    const dirs = lowers(128);
    const m = {
      type: 'overlay',
      source: 'overlay',
      options: ['index=off', `lowerdir=${dirs.join(':')}`, `upperdir=${root}/200/fs`],
    };
    expect(optionsSize(m.options)).toBeGreaterThan(PAGE_SIZE);
    const { mount, chdir } = compactLowerdir(m);
    expect(chdir).toBe(root);
    expect(mount.options).toEqual([
      'index=off',
      `upperdir=${root}/200/fs`,
      `lowerdir=${dirs.map((d) => d.slice(root.length + 1)).join(':')}`,
    ]);
    expect(mount.options.at(-1)!.startsWith('lowerdir=128/fs:127/fs:')).toBe(true);
    expect(optionsSize(mount.options)).toBeLessThan(PAGE_SIZE - 512);
    // The input is not modified.
    expect(m.options[1]).toBe(`lowerdir=${dirs.join(':')}`);
  });

  it('compacts just at the threshold, not below it', () => {
    const base = '/r/snapshots';
    const mk = (len: number) => {
      const head = `lowerdir=${base}/1/fs:${base}/2/`;
      return {
        type: 'overlay',
        source: 'overlay',
        options: [head + 'f'.repeat(len - head.length)],
      };
    };
    expect(compactLowerdir(mk(PAGE_SIZE - 513)).chdir).toBeUndefined();
    expect(compactLowerdir(mk(PAGE_SIZE - 512)).chdir).toBe(`${base}`);
  });

  it('does not compact when the only common directory is /', () => {
    const m = {
      type: 'overlay',
      source: 'overlay',
      options: [`lowerdir=/a${'x'.repeat(3000)}:/b${'y'.repeat(1000)}`],
    };
    expect(compactLowerdir(m).chdir).toBeUndefined();
  });
});
