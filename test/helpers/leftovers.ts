// What a daemon leaves behind once every container it ran is gone: shim
// servers, mounts, pinned network namespaces, cgroups and files named after
// the removed ids. Shared by the soak benchmark and the short soak test, so
// both look at a daemon the same way. Every probe is scoped to one daemon's
// directory or to ids the caller created, never to the host as a whole.

import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';

export interface ProcessFigures {
  rssKiB: number;
  fds: number;
}

export interface Leftovers {
  /** Shim servers of this daemon (a spare waiting for work is not one). */
  shims: number;
  /** Mount points under the daemon's directory other than network namespaces. */
  mounts: number;
  /** Network namespaces pinned (nsfs mounts) under the daemon's directory. */
  netns: number;
  /** cgroup directories, in any hierarchy, named after a removed id. */
  cgroups: number;
  /** Files or directories under the daemon's directory named after a removed id (bundles, pod dirs). */
  paths: number;
}

/** RSS and open file descriptors of a live process. */
export function processFigures(pid: number): ProcessFigures {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return { rssKiB: m ? Number(m[1]) : 0, fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** Mount points (field 5 of mountinfo) and their types, unescaped. */
function mounts(): { point: string; type: string }[] {
  const out: { point: string; type: string }[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (!line) continue;
    const [left, right] = line.split(' - ');
    const point = left?.split(' ')[4];
    const type = right?.split(' ')[0];
    if (point && type) {
      out.push({
        point: point.replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))),
        type,
      });
    }
  }
  return out;
}

function within(dir: string, p: string): boolean {
  return p === dir || p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/**
 * Shim servers of the daemon at `socket`: processes that carry the socket on
 * their command line and work in a bundle under `dir`. A spare shim carries
 * the socket too but has not been given a bundle yet.
 */
export function shimServers(socket: string, dir: string, except: number[] = []): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (except.includes(pid)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!args.includes(socket)) continue;
      if (within(dir, readlinkSync(`/proc/${entry}/cwd`))) out.push(pid);
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/** Directory names found at most `depth` levels below `root` whose name is in `names`. */
function namedBelow(root: string, names: Set<string>, depth: number, budget = { left: 50_000 }) {
  const found: string[] = [];
  let entries;
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch {
    return found;
  }
  for (const e of entries) {
    if (--budget.left < 0) break;
    const p = path.join(root, e.name);
    if (names.has(e.name)) found.push(p);
    if (depth > 1 && e.isDirectory()) found.push(...namedBelow(p, names, depth - 1, budget));
  }
  return found;
}

/** cgroup directories named after `ids`, in every hierarchy (v1) or the unified tree (v2). */
export function cgroupsNamed(ids: string[]): string[] {
  if (ids.length === 0) return [];
  try {
    statSync(CGROUP_ROOT);
  } catch {
    return [];
  }
  return namedBelow(CGROUP_ROOT, new Set(ids), 4);
}

export interface LeftoverScope {
  /** The daemon's gRPC socket (shims carry it on their command line). */
  socket: string;
  /** The daemon's directory: its root, state and sockets are all below it. */
  dir: string;
  /** Ids of containers and pods that have been removed. */
  removedIds: string[];
  /** Pids never to count as shims (the daemon, this process). */
  except: number[];
  /** Other directories of this daemon's (e.g. runc's state root) searched for the removed ids. */
  extraDirs?: string[];
}

export function leftovers(s: LeftoverScope): Leftovers {
  const ours = mounts().filter((m) => within(s.dir, m.point));
  return {
    shims: shimServers(s.socket, s.dir, s.except).length,
    mounts: ours.filter((m) => m.type !== 'nsfs').length,
    netns: ours.filter((m) => m.type === 'nsfs').length,
    cgroups: cgroupsNamed(s.removedIds).length,
    paths: [s.dir, ...(s.extraDirs ?? [])].reduce(
      (n, d) => n + namedBelow(d, new Set(s.removedIds), 6).length,
      0,
    ),
  };
}

/** A one-line account of what is left, for an assertion message. */
export function describeLeftovers(l: Leftovers): string {
  return Object.entries(l)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}
