// Linux ABI values for the flags the native calls take. They are the same on
// every architecture Node runs Linux on; constants.test.ts checks them against
// the values the addon was compiled with.

/** mount(2) flags. */
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  DIRSYNC: 0x80,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  MOVE: 0x2000,
  REC: 0x4000,
  SILENT: 0x8000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  STRICTATIME: 0x1000000,
  LAZYTIME: 0x2000000,
} as const;

/** umount2(2) flags. */
export const MNT = {
  FORCE: 0x1,
  DETACH: 0x2,
  EXPIRE: 0x4,
  UMOUNT_NOFOLLOW: 0x8,
} as const;

/** setxattr(2) flags. */
export const XATTR = {
  CREATE: 0x1,
  REPLACE: 0x2,
} as const;

/** Namespace flags for setns(2) and unshare(2). */
export const CLONE = {
  NEWNS: 0x20000,
  NEWCGROUP: 0x2000000,
  NEWUTS: 0x4000000,
  NEWIPC: 0x8000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
} as const;

/** File type bits for mknod(2)'s mode. */
export const S_IF = {
  FIFO: 0o010000,
  CHR: 0o020000,
  BLK: 0o060000,
} as const;
