// Shared pieces of the layer-apply tests: tar-stream archives built from entry
// lists (an independent tar producer, so the reader is not only tested against
// our own writer) and tree snapshots that compare everything a layer carries.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as tarStream from 'tar-stream';
import { llistxattr, lgetxattr } from '../native/index.js';

export type Entry = Partial<Omit<tarStream.Header, 'pax'>> & {
  name: string;
  data?: string | Buffer;
  /** PAX records; tar-stream encodes values as UTF-8 text. */
  pax?: Record<string, string>;
};

export async function makeTar(entries: Entry[], opts: { gzip?: boolean } = {}): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array));
  })();
  for (const { data, ...header } of entries) {
    await new Promise<void>((resolve, reject) => {
      const h = {
        mtime: new Date(1_600_000_000_000),
        uid: 0,
        gid: 0,
        ...header,
      } as tarStream.Header;
      if (data !== undefined) pack.entry(h, data, (err) => (err ? reject(err) : resolve()));
      else {
        // entries without data (directories, links, devices) still need their sink ended
        const sink = pack.entry(h, (err) => (err ? reject(err) : resolve()));
        (sink as unknown as { end(): void }).end();
      }
    });
  }
  pack.finalize();
  await done;
  const tar = Buffer.concat(chunks);
  return opts.gzip ? gzipSync(tar) : tar;
}

export const stream = (buf: Buffer) => Readable.from([buf]);

export interface NodeInfo {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime?: number;
  size?: number;
  sha256?: string;
  link?: string;
  rdev?: number;
  xattrs?: Record<string, string>;
  /** Index of the hard link group (paths sharing an inode), when linked. */
  linkGroup?: string;
}

export interface SnapshotOptions {
  mtimes?: boolean;
  /** Relative paths to leave out (with everything below them). */
  exclude?: string[];
  /** Xattr name prefixes to leave out. */
  skipXattrs?: string[];
}

/** Everything a layer can carry, for every path under dir (dir itself excluded). */
export function snapshotTree(dir: string, opts: SnapshotOptions = {}): Record<string, NodeInfo> {
  const out: Record<string, NodeInfo> = {};
  const inodes = new Map<string, string[]>();
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (opts.exclude?.includes(r)) continue;
      const p = path.join(dir, r);
      const st = fs.lstatSync(p);
      const info: NodeInfo = {
        type: st.isFile()
          ? 'file'
          : st.isDirectory()
            ? 'dir'
            : st.isSymbolicLink()
              ? 'symlink'
              : st.isCharacterDevice()
                ? 'char'
                : st.isBlockDevice()
                  ? 'block'
                  : st.isFIFO()
                    ? 'fifo'
                    : 'other',
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
      };
      if (info.type === 'symlink') {
        delete (info as { mode?: number }).mode;
        info.link = fs.readlinkSync(p);
      }
      if (opts.mtimes !== false && info.type !== 'symlink')
        info.mtime = Math.floor(st.mtimeMs / 1000);
      if (info.type === 'file') {
        info.size = st.size;
        info.sha256 = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          inodes.set(key, [...(inodes.get(key) ?? []), r]);
        }
      }
      if (info.type === 'char' || info.type === 'block') info.rdev = st.rdev;
      const xattrs: Record<string, string> = {};
      for (const x of llistxattr(p).sort()) {
        if (opts.skipXattrs?.some((s) => x.startsWith(s))) continue;
        xattrs[x] = lgetxattr(p, x)!.toString('hex');
      }
      if (Object.keys(xattrs).length) info.xattrs = xattrs;
      out[r] = info;
      if (info.type === 'dir') walk(r);
    }
  };
  walk('');
  for (const paths of inodes.values()) {
    if (paths.length < 2) continue;
    for (const p of paths) out[p]!.linkGroup = paths[0];
  }
  return out;
}

export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return undefined;
}
