import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blockDeviceName, countProcesses, mountOf, parseMountinfo } from './container-probe.js';

describe('container probe', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'berth-probe-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('counts processes, their fds and sockets, skipping processes that are gone', () => {
    const fds = (pid: number, targets: string[]) => {
      mkdirSync(path.join(dir, String(pid), 'fd'), { recursive: true });
      targets.forEach((t, i) => symlinkSync(t, path.join(dir, String(pid), 'fd', String(i))));
    };
    fds(10, ['/dev/null', 'socket:[123]', 'pipe:[4]']);
    fds(11, ['socket:[9]']);
    expect(countProcesses([10, 11, 12], dir)).toEqual({
      processes: 2,
      fileDescriptors: 4,
      sockets: 2,
    });
  });

  it('finds the mount holding a path and its overlay upperdir', () => {
    const info = [
      '22 1 253:0 / / rw,relatime - ext4 /dev/vda rw',
      '30 22 0:40 / /var/lib/berth rw - ext4 /dev/vdb rw',
      '41 30 0:50 / /run/berth/b/c1/rootfs rw - overlay overlay rw,lowerdir=/var/lib/berth/s/1/fs,upperdir=/var/lib/berth/s/2/fs,workdir=/var/lib/berth/s/2/work',
      '42 22 0:51 / /mnt/with\\040space rw - tmpfs tmpfs rw',
    ].join('\n');
    const mounts = parseMountinfo(info);
    expect(mountOf(mounts, '/run/berth/b/c1/rootfs')?.superOptions).toContain(
      'upperdir=/var/lib/berth/s/2/fs',
    );
    expect(mountOf(mounts, '/var/lib/berth/s/2/fs')?.source).toBe('/dev/vdb');
    expect(mountOf(mounts, '/var/lib/berthx')?.source).toBe('/dev/vda');
    expect(mountOf(mounts, '/mnt/with space/x')?.source).toBe('tmpfs');
  });

  it('names a block device from sysfs, else by its numbers', () => {
    mkdirSync(path.join(dir, 'dev', 'block', '253:0'), { recursive: true });
    writeFileSync(
      path.join(dir, 'dev', 'block', '253:0', 'uevent'),
      'MAJOR=253\nMINOR=0\nDEVNAME=vda\n',
    );
    expect(blockDeviceName(253, 0, dir)).toBe('/dev/vda');
    expect(blockDeviceName(8, 1, dir)).toBe('8:1');
  });
});
