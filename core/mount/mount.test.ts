import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';

// mount(2) is recorded, not made: these tests check what the kernel would be
// asked for (type, data, and the directory the call is made from).
const calls: { type: string | null; data: string | null; cwd: string }[] = [];
vi.mock('../../native/index.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../native/index.js')>()),
  mount: (_s: string | null, _t: string, type: string | null, _f: number, data: string | null) =>
    void calls.push({ type, data, cwd: process.cwd() }),
}));

const { PAGE_SIZE } = await import('./compaction.js');
const { mountOne } = await import('./mount.js');

describe('mountOne', () => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'berth-mount-'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  beforeEach(() => void (calls.length = 0));

  /** An overlay whose options are exactly `size` bytes, lowerdirs under `base`. */
  const overlayOfSize = (size: number) => {
    const head = `lowerdir=${base}/1/fs:${base}/2/`;
    return { type: 'overlay', source: 'overlay', options: [head + 'f'.repeat(size - head.length)] };
  };

  it('mounts an overlay from the common directory once options reach a page minus 512', () => {
    mountOne(overlayOfSize(PAGE_SIZE - 512), '/mnt/target');
    expect(calls).toEqual([
      { type: 'overlay', data: expect.stringMatching(/^lowerdir=1\/fs:2\/f+$/), cwd: base },
    ]);
    expect(process.cwd()).not.toBe(base);
  });

  it('mounts a shorter overlay as given, from the current directory', () => {
    const m = overlayOfSize(PAGE_SIZE - 513);
    mountOne(m, '/mnt/target');
    expect(calls).toEqual([{ type: 'overlay', data: m.options[0], cwd: process.cwd() }]);
  });

  it('refuses filesystem data of a page or more before calling mount', () => {
    const m = { type: 'tmpfs', source: 'tmpfs', options: ['ro', `x=${'y'.repeat(PAGE_SIZE - 2)}`] };
    expect(() => mountOne(m, '/mnt/target')).toThrow(
      expect.objectContaining({
        code: 'InvalidArgument',
        message: expect.stringMatching(/exceed one page/),
      }),
    );
    // No common directory but '/', so compaction cannot shorten this overlay.
    const lowers = [`/a${'x'.repeat(3000)}`, `/b${'y'.repeat(1500)}`];
    const o = { type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`] };
    expect(() => mountOne(o, '/mnt/target')).toThrow(/overlay mount options .* exceed one page/);
    expect(calls).toEqual([]);
  });
});
