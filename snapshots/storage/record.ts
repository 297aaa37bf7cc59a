// On-disk form of a snapshot record in a snapshotter's own database, and the
// key layout:
//
//   seq                          last snapshot id handed out (decimal)
//   snapshot/<key>               record of the snapshot named <key>
//   child/<parent>\0<child>      parent index (<child> is a snapshot of <parent>)
//
// Keys may hold any character except NUL, which separates index segments.

import { BerthError, errInvalidArgument } from '../../core/errors/catalogue.js';
import { type Info, Kind } from '../../core/snapshots/types.js';

export const SEQ_KEY = 'seq';
export const SNAPSHOT_PREFIX = 'snapshot/';
export const CHILD_PREFIX = 'child/';

export interface StoredSnapshot {
  id: string;
  kind: Kind;
  parent: string;
  labels: Record<string, string>;
  created: string;
  updated: string;
  /** Disk usage, recorded when the snapshot is committed. */
  size?: number;
  inodes?: number;
}

export function validateKey(key: string, what = 'snapshot key'): void {
  if (typeof key !== 'string' || key === '') throw errInvalidArgument(`${what} must not be empty`);
  if (key.includes('\0')) throw errInvalidArgument(`${what} ${JSON.stringify(key)} contains NUL`);
}

export const snapshotKey = (key: string) => SNAPSHOT_PREFIX + key;
export const childKey = (parent: string, child: string) => `${CHILD_PREFIX}${parent}\0${child}`;
/** Range [gte, lt) of every child entry of `parent`. */
export const childRange = (parent: string) => ({
  gte: `${CHILD_PREFIX}${parent}\0`,
  lt: `${CHILD_PREFIX}${parent}\u0001`,
});

function corrupt(key: string, detail: string, cause?: unknown): BerthError {
  return new BerthError(
    'DataLoss',
    `snapshot record ${JSON.stringify(key)} is corrupt: ${detail}`,
    {
      cause,
    },
  );
}

const KINDS: readonly number[] = [Kind.View, Kind.Active, Kind.Committed];

export function decodeSnapshot(key: string, raw: string): StoredSnapshot {
  let s: StoredSnapshot;
  try {
    s = JSON.parse(raw) as StoredSnapshot;
  } catch (err) {
    throw corrupt(key, 'not valid JSON', err);
  }
  if (s === null || typeof s !== 'object') throw corrupt(key, 'not an object');
  if (typeof s.id !== 'string' || !/^[0-9]+$/.test(s.id)) throw corrupt(key, 'bad id');
  if (!KINDS.includes(s.kind)) throw corrupt(key, `bad kind ${String(s.kind)}`);
  if (typeof s.parent !== 'string') throw corrupt(key, 'parent is not a string');
  if (s.labels === null || typeof s.labels !== 'object') throw corrupt(key, 'labels is not a map');
  for (const t of [s.created, s.updated]) {
    if (typeof t !== 'string' || Number.isNaN(new Date(t).getTime()))
      throw corrupt(key, 'bad timestamp');
  }
  return s;
}

export function toInfo(name: string, s: StoredSnapshot): Info {
  return {
    name,
    parent: s.parent,
    kind: s.kind,
    labels: { ...s.labels },
    created: new Date(s.created),
    updated: new Date(s.updated),
  };
}

/** Label map without empty values (an empty value means "no such label"). */
export function compact(labels: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {}))
    if (typeof v === 'string' && v !== '') out[k] = v;
  return out;
}
