// containerd's ctr (Debian package) and our CLI against berthd's snapshots
// service, with the returned mounts really mounted.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mountAll, unmountAll } from '../core/mount/index.js';
import type { Mount } from '../core/snapshots/types.js';
import { berth, run, startDaemon, type TestDaemon } from './helpers/daemon.js';

const CTR = '/usr/bin/ctr';
const isRoot = process.getuid?.() === 0;

/** Parses `mount -t TYPE SOURCE TARGET -o OPTS` lines as ctr prints them. */
function parseMountLines(out: string): Mount[] {
  return out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = /^mount -t (\S+) (\S+) (\S+) -o (\S*)$/.exec(line);
      if (!m) throw new Error(`unexpected mount line: ${line}`);
      return { type: m[1]!, source: m[2]!, options: m[4] ? m[4].split(',') : [] };
    });
}

describe.skipIf(!existsSync(CTR) || !isRoot)('snapshots through ctr and berth', () => {
  let d: TestDaemon;
  let targets: string[] = [];
  const ctr = (...args: string[]) => run(CTR, ['-a', d.address, ...args]);
  const ok = async (p: Promise<{ code: number | null; stdout: string; stderr: string }>) => {
    const r = await p;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return r.stdout;
  };
  const mountAt = async (mounts: Mount[]) => {
    const target = path.join(d.dir, 'mnt', String(targets.length));
    await mkdir(target, { recursive: true });
    targets.push(target);
    mountAll(mounts, target);
    return target;
  };

  beforeAll(async () => {
    // These tests keep content and snapshots with no lease or gc.root label, which
    // the collector would rightly remove; the collector has tests of its own.
    d = await startDaemon({ config: 'disabled_plugins = ["io.berth.gc.v1.scheduler"]\n' });
  });
  afterEach(() => {
    for (const t of targets.reverse()) unmountAll(t);
    targets = [];
  });
  afterAll(async () => {
    for (const t of targets.reverse()) unmountAll(t);
    await d?.dispose();
  });

  it('lists both snapshotters as loaded plugins', async () => {
    const out = await ok(ctr('plugins', 'ls', 'type==io.berth.snapshotter.v1'));
    expect(out).toMatch(/io\.berth\.snapshotter\.v1\s+overlayfs\s+\S+\s+ok/);
    expect(out).toMatch(/io\.berth\.snapshotter\.v1\s+native\s+\S+\s+ok/);
  });

  for (const snapshotter of ['overlayfs', 'native']) {
    it(`prepare / mounts / commit / tree / rm with ctr on ${snapshotter}`, async () => {
      const s = ['snapshots', '--snapshotter', snapshotter];
      const ns = `ctr-${snapshotter}`;
      const c = (...args: string[]) => ctr('-n', ns, ...s, ...args);
      expect((await ok(c('ls'))).trim()).toMatch(/^KEY\s+PARENT\s+KIND$/);

      await ok(c('prepare', 'base'));
      const baseMounts = parseMountLines(await ok(c('mounts', '/mnt/x', 'base')));
      expect(baseMounts).toEqual([
        {
          type: 'bind',
          source: expect.stringContaining(`io.berth.snapshotter.v1.${snapshotter}/snapshots/`),
          options: ['rw', 'rbind'],
        },
      ]);
      let target = await mountAt(baseMounts);
      await writeFile(path.join(target, 'hello'), 'from base');
      unmountAll(target);

      await ok(c('commit', 'base-c', 'base'));
      await ok(c('prepare', 'top', 'base-c'));
      const topMounts = parseMountLines(await ok(c('mounts', '/mnt/x', 'top')));
      if (snapshotter === 'overlayfs') {
        expect(topMounts[0]!.type).toBe('overlay');
        expect(topMounts[0]!.options.at(-1)).toMatch(/^lowerdir=\/.*\/snapshots\/\d+\/fs$/);
      }
      target = await mountAt(topMounts);
      expect(await readFile(path.join(target, 'hello'), 'utf8')).toBe('from base');
      await writeFile(path.join(target, 'more'), 'top');

      const ls = await ok(c('ls'));
      expect(ls).toMatch(/base-c\s+Committed/);
      expect(ls).toMatch(/top\s+base-c\s+Active/);
      const tree = await ok(c('tree'));
      expect(tree).toMatch(/base-c\n\s+\\_ top/);

      const info = JSON.parse(await ok(c('info', 'top')));
      expect(info).toMatchObject({ Kind: 'Active', Name: 'top', Parent: 'base-c' });
      await ok(c('label', 'top', 'team=a'));
      expect(JSON.parse(await ok(c('info', 'top'))).Labels.team).toBe('a');
      expect(await ok(c('usage', 'top'))).toMatch(/top\s+\S+/);

      // Another namespace can use the same keys without seeing these.
      const other = (...args: string[]) => ctr('-n', `${ns}-other`, ...s, ...args);
      await ok(other('prepare', 'base'));
      expect(await ok(other('ls'))).not.toMatch(/base-c/);
      await ok(other('rm', 'base'));

      const refused = await c('rm', 'base-c');
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/failed precondition/);
      unmountAll(target);
      await ok(c('rm', 'top'));
      await ok(c('rm', 'base-c'));
      expect((await ok(c('ls'))).trim()).toMatch(/^KEY\s+PARENT\s+KIND$/);
      const missing = await c('rm', 'base-c');
      expect(missing.stderr).toMatch(/not found/);
    });
  }

  it('view through ctr is read-only', async () => {
    const c = (...args: string[]) => ctr('-n', 'views', 'snapshots', ...args);
    await ok(c('prepare', 'a'));
    await ok(c('commit', 'a-c', 'a'));
    await ok(c('view', 'v', 'a-c'));
    const target = await mountAt(parseMountLines(await ok(c('mounts', '/mnt/x', 'v'))));
    await expect(writeFile(path.join(target, 'x'), 'y')).rejects.toMatchObject({ code: 'EROFS' });
    unmountAll(target);
    await ok(c('rm', 'v'));
    await ok(c('rm', 'a-c'));
  });

  it('berth snapshots covers the same ground', async () => {
    const b = (...args: string[]) => berth(d, ['snapshots', ...args], { namespace: 'cli' });
    await ok(b('prepare', 'k', '--label', 'x=1'));
    await ok(b('commit', 'c', 'k'));
    await ok(b('prepare', 'k2', 'c'));
    await ok(b('view', 'v', 'c'));
    expect(await ok(b('ls'))).toMatch(/k2\s+c\s+Active/);
    expect(await ok(b('ls', 'kind==view', '-q'))).toBe('v\n');
    expect(await ok(b('tree'))).toBe('c\n  \\_ k2\n  \\_ v\n');
    expect(await ok(b('mounts', '/mnt/t', 'k2'))).toMatch(/^mount -t overlay overlay \/mnt\/t -o /);
    expect(await ok(b('label', 'k2', 'app=web'))).toBe('app=web\n');
    expect(JSON.parse(await ok(b('info', 'k2')))).toMatchObject({
      Kind: 'Active',
      Parent: 'c',
      Labels: { app: 'web' },
    });
    expect(await ok(b('usage', '--bytes'))).toMatch(
      /^KEY\s+SIZE\s+INODES\n(?:\S+\s+\d+\s+\d+\n){3}$/,
    );
    const refused = await b('rm', 'c');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/with child/);
    await ok(b('rm', 'k2', 'v', 'c'));
    await ok(b('--snapshotter', 'native', 'prepare', 'n'));
    expect(await ok(b('--snapshotter', 'native', 'ls', '-q'))).toBe('n\n');
    expect(await ok(b('ls', '-q'))).toBe('');
    await ok(b('--snapshotter', 'native', 'rm', 'n'));
    const unknown = await b('--snapshotter', 'zfs', 'ls');
    expect(unknown.stderr).toMatch(/snapshotter not loaded: zfs/);
  });
});
