// mount(8) options split into what mount(2) takes: flags, a propagation change
// made by a second call, and the filesystem's comma-joined data.

import { MS } from '../../native/index.js';

// Option name → [flags, clear them instead of setting them].
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
