// Which cgroup controllers runc can use on this host: a limit for a controller
// that is not there fails the container start, so the CRI leaves such limits out.

import { readFileSync } from 'node:fs';

/** Controllers enabled in a cgroup v2 `cgroup.controllers` file ("cpu memory hugetlb"). */
export function parseV2Controllers(text: string): Set<string> {
  return new Set(text.split(/\s+/).filter(Boolean));
}

/**
 * Controllers of /proc/cgroups that are enabled and mounted on a v1 hierarchy
 * (hierarchy 0 means not mounted, or only on the unified hierarchy runc does not
 * use in v1 mode).
 */
export function parseV1Controllers(procCgroups: string): Set<string> {
  const out = new Set<string>();
  for (const line of procCgroups.split('\n')) {
    if (line.startsWith('#')) continue;
    const [name, hierarchy, , enabled] = line.trim().split(/\s+/);
    if (name && hierarchy !== '0' && enabled === '1') out.add(name);
  }
  return out;
}

export interface CgroupFiles {
  /** The unified hierarchy's controller list; present only when /sys/fs/cgroup is cgroup v2. */
  v2Controllers: string;
  procCgroups: string;
}

const HOST_FILES: CgroupFiles = {
  v2Controllers: '/sys/fs/cgroup/cgroup.controllers',
  procCgroups: '/proc/cgroups',
};

/** The controllers available to containers, read from `files` (the host's by default). */
export function detectCgroupControllers(files: CgroupFiles = HOST_FILES): Set<string> {
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return undefined;
    }
  };
  const v2 = read(files.v2Controllers);
  if (v2 !== undefined) return parseV2Controllers(v2);
  return parseV1Controllers(read(files.procCgroups) ?? '');
}

let cached: ReadonlySet<string> | undefined;

/** The host's controllers, read once: they do not change while berthd runs. */
export function hostCgroupControllers(): ReadonlySet<string> {
  cached ??= detectCgroupControllers();
  return cached;
}
