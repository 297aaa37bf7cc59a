// Typed wrappers over the addon's synchronous syscalls. All of them throw
// Node-style errors (code 'ENOENT', errno -2, syscall, path) on failure.

import { binding } from './binding.js';

/** Marks this process as a child subreaper: orphaned descendants are reparented to it. */
export function setChildSubreaper(): void {
  binding().setChildSubreaper();
}

export function getChildSubreaper(): boolean {
  return binding().getChildSubreaper();
}

/** mount(2). source, fstype and data may be null (e.g. for remounts and propagation changes). */
export function mount(
  source: string | null,
  target: string,
  fstype: string | null,
  flags: number,
  data: string | null = null,
): void {
  binding().mount(source, target, fstype, flags, data);
}

export function umount2(target: string, flags = 0): void {
  binding().umount2(target, flags);
}

/** mknod(2); mode carries the file type (S_IF.CHR, S_IF.BLK, S_IF.FIFO) and permissions. */
export function mknod(path: string, mode: number, dev = 0): void {
  binding().mknod(path, mode, dev);
}

/** Device number in the encoding fs.Stats.rdev reports. */
export function makedev(major: number, minor: number): number {
  return binding().makedev(major, minor);
}

/** lsetxattr(2): sets an attribute on the path itself, not a symlink's target. */
export function lsetxattr(path: string, name: string, value: Buffer, flags = 0): void {
  binding().lsetxattr(path, name, value, flags);
}

/** lgetxattr(2); null when the attribute is not set. */
export function lgetxattr(path: string, name: string): Buffer | null {
  return binding().lgetxattr(path, name);
}

export function llistxattr(path: string): string[] {
  return binding().llistxattr(path);
}

/**
 * setns(2) for the calling (event loop) thread only: libuv's threadpool, which
 * runs fs and dns work, stays in the original namespaces. Joining a mount or
 * user namespace fails with EINVAL in a multi-threaded process such as Node.
 */
export function setns(fd: number, nstype = 0): void {
  binding().setns(fd, nstype);
}

/** unshare(2), with the same per-thread caveats as setns. */
export function unshare(flags: number): void {
  binding().unshare(flags);
}

/** Sets a terminal's window size (TIOCSWINSZ); the foreground process group gets SIGWINCH. */
export function setWinsize(fd: number, rows: number, cols: number): void {
  binding().setWinsize(fd, rows, cols);
}

/** dup2(2): makes newfd refer to oldfd's file (atomically closing what newfd was). */
export function dup2(oldfd: number, newfd: number): void {
  binding().dup2(oldfd, newfd);
}

/**
 * Marks every fd from `minFd` up close-on-exec. Called right before a child is
 * spawned, so the child gets only the stdio it is given: LevelDB opens its
 * files without O_CLOEXEC, and Node's spawn closes nothing by itself.
 */
export function cloexecFrom(minFd = 3): void {
  binding().cloexecFrom(minFd);
}

/**
 * Closes every fd from `minFd` up that is not close-on-exec: in a process that
 * just started, those can only have leaked from its parent. Returns the count.
 */
export function closeInheritedFrom(minFd = 3): number {
  return binding().closeInheritedFrom(minFd);
}

/**
 * A new network namespace bind-mounted onto `target` (an existing file), made
 * on a throwaway thread: the calling process's namespaces never change.
 * Undo with umount2(target, MNT.DETACH).
 */
export function pinNetns(target: string): Promise<void> {
  return binding().pinNetns(target);
}

/** What pinPodNamespaces makes; an absent target leaves that namespace to the caller. */
export interface PodNamespaces {
  /** A pinned network namespace to join first: `net.` sysctls apply there. */
  netns?: string;
  /** Existing files the new IPC and UTS namespaces are bind-mounted onto. */
  ipcTarget?: string;
  utsTarget?: string;
  /** Set in the new UTS namespace. */
  hostname?: string;
  /** Written under /proc/sys in the pod's namespaces ('net.ipv4.ip_forward' or 'net/ipv4/ip_forward'). */
  sysctls?: Record<string, string>;
}

const SYSCTL_KEY = /^[a-z0-9_]+([./][a-z0-9_-]+)+$/i;

/**
 * A pod's IPC and UTS namespaces without a process to hold them (a pod with no
 * infra container): made on a throwaway thread that also sets the hostname and
 * writes the sysctls in them, then bind-mounted onto their targets. Undo with
 * umount2(target, MNT.DETACH) on each target.
 */
export function pinPodNamespaces(ns: PodNamespaces): Promise<void> {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(ns.sysctls ?? {})) {
    // The key becomes a path under /proc/sys: nothing but names and separators.
    if (!SYSCTL_KEY.test(key) || key.includes('..')) {
      throw new TypeError(`invalid sysctl name ${JSON.stringify(key)}`);
    }
    if (/[\n\0]/.test(value)) throw new TypeError(`invalid value for sysctl ${key}`);
    lines.push(`${key}=${value}`);
  }
  return binding().pinPodNamespaces(
    ns.netns ?? '',
    ns.ipcTarget ?? '',
    ns.utsTarget ?? '',
    ns.hostname ?? '',
    lines.join('\n'),
  );
}

/** /proc/net/dev as seen inside the network namespace pinned at `netns`. */
export function readNetDev(netns: string): Promise<string> {
  return binding().readNetDev(netns);
}

/**
 * A TCP connection to localhost:port (127.0.0.1, or ::1 with `ipv6`) inside the
 * network namespace pinned at `netns`; resolves with the connected fd. The
 * socket is made on a throwaway thread: the calling process's namespaces never
 * change. `timeoutMs` bounds the connect.
 */
export function connectInNetns(
  netns: string,
  ipv6: boolean,
  port: number,
  timeoutMs: number,
): Promise<number> {
  return binding().connectInNetns(netns, ipv6, port, timeoutMs);
}
