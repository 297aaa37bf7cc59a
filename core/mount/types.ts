// What a snapshotter hands out and a task's rootfs is made of: one mount(2)
// call, as containerd's Mount message describes it.

export interface Mount {
  /** Filesystem type (`overlay`, `bind`, `rbind`, `tmpfs`, ...). */
  type: string;
  source: string;
  /** Where the mount goes relative to the rootfs; unused by mountAll, which mounts at its target. */
  target?: string;
  /** mount(8) style options: flags, propagation and filesystem data. */
  options: string[];
}
