import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { errInvalidArgument, errNotFound } from '../errors/catalogue.js';
import { resolveInRoot } from './resolve-in-root.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplementary groups, the primary gid first (containerd ≥ 1.6.18, CVE-2023-25173). */
  additionalGids: number[];
}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 0xffff_ffff;
// /etc/passwd and /etc/group of real images are a few KiB; the cap keeps a hostile
// image from making us buffer something huge.
const MAX_ACCOUNT_FILE_BYTES = 4 << 20;

/** A non-negative decimal id fitting uint32, or undefined when `s` is a name. */
export function parseNumericId(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  if (n > MAX_ID) throw errInvalidArgument(`id ${s} out of range`);
  return n;
}

export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4) continue;
    const uid = /^\d+$/.test(f[2]!) ? Number(f[2]) : NaN;
    const gid = /^\d+$/.test(f[3]!) ? Number(f[3]) : NaN;
    if (!Number.isSafeInteger(uid) || !Number.isSafeInteger(gid)) continue;
    entries.push({ name: f[0]!, uid, gid, home: f[5] ?? '', shell: f[6] ?? '' });
  }
  return entries;
}

export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3) continue;
    const gid = /^\d+$/.test(f[2]!) ? Number(f[2]) : NaN;
    if (!Number.isSafeInteger(gid)) continue;
    const members = (f[3] ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter((m) => m !== '');
    entries.push({ name: f[0]!, gid, members });
  }
  return entries;
}

/**
 * Read a file of an untrusted rootfs: the path is resolved inside the root, the
 * final open refuses symlinks (closing the gap if the tree changes under us), and
 * only regular files are read — a FIFO at /etc/passwd would otherwise block.
 * Returns undefined when the file does not exist.
 */
export async function readFileInRoot(root: string, p: string): Promise<string | undefined> {
  const hostPath = await resolveInRoot(root, p);
  let fh;
  try {
    fh = await open(hostPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw errInvalidArgument(`${p} in rootfs is not a regular file`);
    if (st.size > MAX_ACCOUNT_FILE_BYTES) throw errInvalidArgument(`${p} in rootfs is too large`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const { bytesRead } = await fh.read(buf, off, buf.length - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    await fh.close();
  }
}

/**
 * Resolve an image/CLI user string against a rootfs, with containerd's rules:
 * `user`, `uid`, `user:group`, `uid:gid`, `uid:group`, `user:gid`.
 * - a bare uid takes its gid from /etc/passwd, or 0 when the uid is not listed;
 * - names must exist in /etc/passwd or /etc/group;
 * - additionalGids lists the primary gid, then every group naming the user as a member.
 * An empty string means root.
 */
export async function resolveUser(rootfsDir: string, userString: string): Promise<ResolvedUser> {
  const parts = userString === '' ? ['0'] : userString.split(':');
  if (parts.length > 2 || parts.some((p) => p === '')) {
    throw errInvalidArgument(`invalid user ${JSON.stringify(userString)}`);
  }
  const [userPart, groupPart] = parts as [string, string | undefined];

  let passwdCache: PasswdEntry[] | undefined | null = null;
  const passwd = async () => {
    if (passwdCache === null) {
      const text = await readFileInRoot(rootfsDir, '/etc/passwd');
      passwdCache = text === undefined ? undefined : parsePasswd(text);
    }
    return passwdCache;
  };
  let groupCache: GroupEntry[] | undefined | null = null;
  const groups = async () => {
    if (groupCache === null) {
      const text = await readFileInRoot(rootfsDir, '/etc/group');
      groupCache = text === undefined ? undefined : parseGroup(text);
    }
    return groupCache;
  };

  let uid: number;
  let gid: number | undefined;
  let username: string | undefined;
  const numericUid = parseNumericId(userPart);
  if (numericUid !== undefined) {
    uid = numericUid;
    const entry = (await passwd())?.find((u) => u.uid === uid);
    username = entry?.name;
    if (groupPart === undefined) gid = entry?.gid ?? 0;
  } else {
    const entry = (await passwd())?.find((u) => u.name === userPart);
    if (!entry) throw errNotFound(`user ${JSON.stringify(userPart)} in /etc/passwd of the rootfs`);
    uid = entry.uid;
    username = entry.name;
    if (groupPart === undefined) gid = entry.gid;
  }

  if (groupPart !== undefined) {
    const numericGid = parseNumericId(groupPart);
    if (numericGid !== undefined) {
      gid = numericGid;
    } else {
      const entry = (await groups())?.find((g) => g.name === groupPart);
      if (!entry)
        throw errNotFound(`group ${JSON.stringify(groupPart)} in /etc/group of the rootfs`);
      gid = entry.gid;
    }
  }
  const primary = gid!;

  const additionalGids = [primary];
  if (username !== undefined) {
    for (const g of (await groups()) ?? []) {
      if (g.members.includes(username) && !additionalGids.includes(g.gid))
        additionalGids.push(g.gid);
    }
  }
  return { uid, gid: primary, additionalGids };
}
