// Mounting a task's rootfs (the Mount list of CreateTaskRequest) into
// <bundle>/rootfs, and taking it down again.

import fs from 'node:fs';
import path from 'node:path';
import { errInvalidArgument } from '../errors/catalogue.js';
import { MNT, MS, mount, umount2 } from '../../native/index.js';

export interface MountSpec {
  type: string;
  source: string;
  options: string[];
}

// mount(8) option names → [flags to set, clear instead of set].
const FLAG_OPTIONS: Record<string, [number, boolean]> = {
  ro: [MS.RDONLY, false],
  rw: [MS.RDONLY, true],
  nosuid: [MS.NOSUID, false],
  suid: [MS.NOSUID, true],
  nodev: [MS.NODEV, false],
  dev: [MS.NODEV, true],
  noexec: [MS.NOEXEC, false],
  exec: [MS.NOEXEC, true],
  sync: [MS.SYNCHRONOUS, false],
  async: [MS.SYNCHRONOUS, true],
  dirsync: [MS.DIRSYNC, false],
  noatime: [MS.NOATIME, false],
  atime: [MS.NOATIME, true],
  nodiratime: [MS.NODIRATIME, false],
  diratime: [MS.NODIRATIME, true],
  relatime: [MS.RELATIME, false],
  norelatime: [MS.RELATIME, true],
  strictatime: [MS.STRICTATIME, false],
  bind: [MS.BIND, false],
  rbind: [MS.BIND | MS.REC, false],
};

const PROPAGATION_OPTIONS: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

export interface ParsedOptions {
  flags: number;
  propagation: number;
  data: string[];
}

export function parseMountOptions(options: readonly string[]): ParsedOptions {
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  for (const o of options) {
    const f = FLAG_OPTIONS[o];
    if (f) {
      flags = f[1] ? flags & ~f[0] : flags | f[0];
    } else if (o in PROPAGATION_OPTIONS) {
      propagation |= PROPAGATION_OPTIONS[o]!;
    } else if (o.startsWith('X-containerd.') || o === 'defaults') {
      // Hints for the client side of containerd, never kernel options.
    } else {
      data.push(o);
    }
  }
  return { flags, propagation, data };
}

// The kernel takes at most one page of mount data.
const PAGE_SIZE = 4096;

/** Mounts one entry at target. */
export function mountOne(m: MountSpec, target: string): void {
  const type = m.type === 'rbind' ? 'bind' : m.type;
  const opts = parseMountOptions(m.type === 'rbind' ? [...m.options, 'rbind'] : m.options);
  let flags = opts.flags;
  if (type === 'bind') flags |= MS.BIND;
  const isBind = (flags & MS.BIND) !== 0;

  if (type === 'overlay') {
    mountOverlay(m.source, target, flags, opts.data);
  } else {
    const data = opts.data.join(',');
    if (data.length >= PAGE_SIZE)
      throw errInvalidArgument(`mount options for ${target} exceed one page`);
    mount(
      m.source,
      target,
      isBind ? null : type,
      isBind ? flags & ~MS.RDONLY : flags,
      data || null,
    );
    // A bind mount ignores MS_RDONLY and friends until remounted.
    if (isBind && flags & (MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC)) {
      mount(null, target, null, (flags & ~MS.REC) | MS.REMOUNT | MS.BIND, null);
    }
  }
  if (opts.propagation) mount(null, target, null, opts.propagation, null);
}

/**
 * overlay: when the option string exceeds a page (deep image chains), mount
 * from the lowerdirs' common parent with relative paths, as containerd does.
 * The chdir is safe: mount runs synchronously on the only JS thread and the
 * shim uses absolute paths everywhere else.
 */
function mountOverlay(source: string, target: string, flags: number, data: string[]): void {
  const joined = data.join(',');
  if (joined.length < PAGE_SIZE) {
    mount(source || 'overlay', target, 'overlay', flags, joined);
    return;
  }
  const lowerIdx = data.findIndex((o) => o.startsWith('lowerdir='));
  if (lowerIdx < 0) throw errInvalidArgument(`overlay options for ${target} exceed one page`);
  const lowers = data[lowerIdx]!.slice('lowerdir='.length).split(':');
  const common = commonDir(lowers);
  const relative = data.map((o, i) =>
    i === lowerIdx ? 'lowerdir=' + lowers.map((l) => path.relative(common, l)).join(':') : o,
  );
  const compact = relative.join(',');
  if (compact.length >= PAGE_SIZE)
    throw errInvalidArgument(`overlay options for ${target} exceed one page`);
  const cwd = process.cwd();
  process.chdir(common);
  try {
    mount(source || 'overlay', target, 'overlay', flags, compact);
  } finally {
    process.chdir(cwd);
  }
}

function commonDir(paths: string[]): string {
  let common = path.dirname(paths[0]!);
  for (const p of paths) {
    while (!(p + '/').startsWith(common === '/' ? '/' : common + '/'))
      common = path.dirname(common);
  }
  return common;
}

/** Mounts every entry in order onto target (later mounts stack on earlier ones). */
export function mountAll(mounts: readonly MountSpec[], target: string): void {
  fs.mkdirSync(target, { recursive: true, mode: 0o711 });
  let mounted = 0;
  try {
    for (const m of mounts) {
      mountOne(m, target);
      mounted++;
    }
  } catch (err) {
    for (let i = 0; i < mounted; i++) tryUnmount(target);
    throw err;
  }
}

function tryUnmount(target: string): boolean {
  try {
    umount2(target, MNT.DETACH);
    return true;
  } catch {
    return false;
  }
}

/** Unmounts everything stacked on target (lazily, so a busy mount cannot wedge delete). */
export function unmountAll(target: string): void {
  // EINVAL once nothing is mounted there; ENOENT if it never existed.
  for (let i = 0; i < 64 && tryUnmount(target); i++);
}
