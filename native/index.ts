// Berth's native addon: subreaper and orphan reaping, console fd passing, and the
// mount/mknod/xattr/namespace syscalls Node does not expose.

export { binding, findAddon } from './binding.js';
export { CLONE, MNT, MS, S_IF, XATTR } from './constants.js';
export {
  receiveConsoleFd,
  recvFd,
  type ReceiveConsoleOptions,
  type ReceivedFd,
} from './console-socket.js';
export { Reaper, type ProcessExit, type ReaperOptions } from './reaper.js';
export {
  cloexecFrom,
  closeInheritedFrom,
  connectInNetns,
  dup2,
  getChildSubreaper,
  lgetxattr,
  llistxattr,
  lsetxattr,
  makedev,
  mknod,
  mount,
  pinNetns,
  pinPodNamespaces,
  type PodNamespaces,
  readNetDev,
  setChildSubreaper,
  setns,
  setWinsize,
  umount2,
  unshare,
} from './syscalls.js';
