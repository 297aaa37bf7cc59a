// The snapshotter contract every backend (overlayfs, native) implements. A
// snapshotter only keeps directories and records and hands out mounts; it never
// mounts anything itself.

import type { Mount } from '../mount/types.js';

/** Snapshot kinds, numbered as containerd's snapshots API. */
export const Kind = {
  View: 1,
  Active: 2,
  Committed: 3,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

export function kindName(kind: Kind): 'view' | 'active' | 'committed' {
  switch (kind) {
    case Kind.View:
      return 'view';
    case Kind.Active:
      return 'active';
    case Kind.Committed:
      return 'committed';
  }
}

export interface Info {
  /** The snapshot's key (Active, View) or name (Committed). */
  name: string;
  /** Name of the committed parent; '' for none. */
  parent: string;
  kind: Kind;
  labels: Record<string, string>;
  created: Date;
  updated: Date;
}

export interface Usage {
  /** Bytes allocated on disk (st_blocks * 512 over unique inodes). */
  size: number;
  inodes: number;
}

export type { Mount };

export interface SnapshotOptions {
  labels?: Record<string, string>;
}

export interface Snapshotter {
  /** NotFound when the key does not exist. */
  stat(key: string): Promise<Info>;
  /**
   * Labels only: paths `labels` or `labels.<k>`; no paths replaces every label.
   * Any other path is InvalidArgument.
   */
  update(info: Pick<Info, 'name'> & Partial<Info>, fieldpaths?: readonly string[]): Promise<Info>;
  /** Active: measured now; Committed: measured at commit; View: zero. */
  usage(key: string): Promise<Usage>;
  mounts(key: string): Promise<Mount[]>;
  /** Active snapshot on top of the committed `parent` ('' for none). */
  prepare(key: string, parent: string, opts?: SnapshotOptions): Promise<Mount[]>;
  /** Read-only snapshot on top of the committed `parent`. */
  view(key: string, parent: string, opts?: SnapshotOptions): Promise<Mount[]>;
  /** Turns the Active `key` into the Committed `name`; labels replace the old ones. */
  commit(name: string, key: string, opts?: SnapshotOptions): Promise<void>;
  /** FailedPrecondition while the snapshot has children. */
  remove(key: string): Promise<void>;
  /** Calls fn for every snapshot the predicate accepts. */
  walk(fn: (info: Info) => void | Promise<void>, filter?: (info: Info) => boolean): Promise<void>;
  /** Removes directories no record refers to (left by crashes or failed removals). */
  cleanup(): Promise<void>;
  close(): Promise<void>;
}
