import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  detectCgroupControllers,
  parseV1Controllers,
  parseV2Controllers,
} from './cgroup-controllers.js';

// /proc/cgroups of a cgroup v1 host whose hugetlb controller is compiled in but
// mounted on no v1 hierarchy (only the hybrid unified one), and net_cls disabled.
const PROC_CGROUPS = `#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t3\t1\t1
cpu\t1\t1\t1
memory\t4\t34\t1
net_cls\t5\t1\t0
hugetlb\t0\t1\t1
pids\t8\t1\t1
`;

describe('cgroup controllers', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cgroups-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('v1: only enabled controllers mounted on a v1 hierarchy count', () => {
    expect([...parseV1Controllers(PROC_CGROUPS)].sort()).toEqual([
      'cpu',
      'cpuset',
      'memory',
      'pids',
    ]);
  });

  it('v2: the words of cgroup.controllers', () => {
    expect(parseV2Controllers('cpuset cpu io memory hugetlb pids\n')).toEqual(
      new Set(['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids']),
    );
  });

  it('reads cgroup.controllers where the unified hierarchy is mounted, /proc/cgroups otherwise', () => {
    const v2 = path.join(dir, 'cgroup.controllers');
    const v1 = path.join(dir, 'cgroups');
    fs.writeFileSync(v1, PROC_CGROUPS);
    expect(detectCgroupControllers({ v2Controllers: v2, procCgroups: v1 }).has('hugetlb')).toBe(
      false,
    );
    fs.writeFileSync(v2, 'cpu memory hugetlb\n');
    expect(detectCgroupControllers({ v2Controllers: v2, procCgroups: v1 }).has('hugetlb')).toBe(
      true,
    );
  });
});
