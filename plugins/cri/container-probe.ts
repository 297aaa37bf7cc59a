// What the cgroup metrics do not say about a running container, read from
// /proc and the filesystem as cAdvisor does: its processes, their open file
// descriptors and sockets, and the filesystem under its writable layer
// (usage, size, inodes, and the block device it lives on).

import { readFileSync, readdirSync, readlinkSync, statfsSync } from 'node:fs';

export interface ProcessCounts {
  processes: number;
  fileDescriptors: number;
  sockets: number;
}

/** Counts over `pids` (the task's processes); a process that exits meanwhile is skipped. */
export function countProcesses(pids: readonly number[], procRoot = '/proc'): ProcessCounts {
  const out = { processes: 0, fileDescriptors: 0, sockets: 0 };
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`${procRoot}/${pid}/fd`);
    } catch {
      continue; // gone
    }
    out.processes++;
    out.fileDescriptors += fds.length;
    for (const fd of fds) {
      try {
        if (readlinkSync(`${procRoot}/${pid}/fd/${fd}`).startsWith('socket:')) out.sockets++;
      } catch {
        /* closed meanwhile */
      }
    }
  }
  return out;
}

export interface FilesystemFigures {
  /** The block device (or source) the filesystem is mounted from, cAdvisor's `device` label. */
  device: string;
  limitBytes: number;
  inodesTotal: number;
  inodesFree: number;
}

interface MountLine {
  point: string;
  source: string;
  superOptions: string;
}

const unescape = (s: string) =>
  s.replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));

export function parseMountinfo(text: string): MountLine[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [left = '', right = ''] = line.split(' - ');
      const [, source = '', superOptions = ''] = right.split(' ');
      return { point: unescape(left.split(' ')[4] ?? ''), source: unescape(source), superOptions };
    });
}

/** The mount that holds `path`: the longest mount point that is a prefix of it. */
export function mountOf(mounts: readonly MountLine[], path: string): MountLine | undefined {
  let best: MountLine | undefined;
  for (const m of mounts) {
    const under = m.point === '/' || path === m.point || path.startsWith(`${m.point}/`);
    if (under && (!best || m.point.length > best.point.length)) best = m;
  }
  return best;
}

/**
 * Size and inodes of the filesystem under a container's rootfs mount, and
 * the device it is on: for an overlay, the filesystem of its upperdir (where
 * the container writes); otherwise the rootfs's own.
 */
export function filesystemOf(
  rootfs: string,
  mountinfo = '/proc/self/mountinfo',
): FilesystemFigures | undefined {
  let mounts: MountLine[];
  try {
    mounts = parseMountinfo(readFileSync(mountinfo, 'utf8'));
  } catch {
    return undefined;
  }
  const root = mountOf(mounts, rootfs);
  const upper = /(?:^|,)upperdir=([^,]+)/.exec(root?.superOptions ?? '')?.[1];
  const where = upper ?? rootfs;
  const backing = mountOf(mounts, where);
  try {
    const s = statfsSync(where);
    return {
      device: backing?.source ?? '',
      limitBytes: s.blocks * s.bsize,
      inodesTotal: s.files,
      inodesFree: s.ffree,
    };
  } catch {
    return undefined;
  }
}

/** `/dev/<name>` of a block device by number, else `major:minor`. */
export function blockDeviceName(major: number, minor: number, sysRoot = '/sys'): string {
  try {
    const uevent = readFileSync(`${sysRoot}/dev/block/${major}:${minor}/uevent`, 'utf8');
    const name = /^DEVNAME=(.+)$/m.exec(uevent)?.[1];
    if (name) return `/dev/${name}`;
  } catch {
    /* not a block device we can name */
  }
  return `${major}:${minor}`;
}

/** What ContainerView adds to a cgroup sample, read by the caller (see CriStats.probe). */
export interface ContainerProbe {
  procs?: ProcessCounts;
  fs?: FilesystemFigures & { usageBytes?: number };
}
