// Tar header encoding for layers Berth produces. Output is a pure function of
// the entries (no user/group name lookups, no host-dependent fields), so the
// same tree always gives the same bytes and hence the same digests. Fields that
// do not fit ustar go into a PAX extended header, whose values are written as
// raw bytes (binary xattr values survive).

import {
  BLOCK,
  F,
  MAX_OCTAL_12,
  MAX_OCTAL_8,
  T,
  USTAR_MAGIC,
  USTAR_VERSION,
  headerChecksum,
  type EntryType,
} from './tar-format.js';

export interface WriteHeader {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  /** Data bytes that follow (regular files only). */
  size: number;
  /** Seconds since the epoch; a fractional value is written as a PAX mtime. */
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: ReadonlyMap<string, Buffer>;
}

const TYPEFLAG: Record<EntryType, number> = {
  file: T.file,
  link: T.link,
  symlink: T.symlink,
  char: T.char,
  block: T.block,
  dir: T.dir,
  fifo: T.fifo,
};

const isAscii = (s: string) => /^[\x01-\x7f]*$/.test(s);

function putString(block: Buffer, [off, len]: readonly [number, number], s: string): void {
  block.write(s, off, len, 'utf8');
}

function putOctal(block: Buffer, [off, len]: readonly [number, number], v: number): void {
  // len-1 octal digits, zero padded, NUL terminated
  block.write(v.toString(8).padStart(len - 1, '0'), off, len - 1, 'latin1');
  block[off + len - 1] = 0;
}

/** Splits a long ustar name into prefix and name at a slash, or null if it cannot fit. */
function splitUstar(name: string): [string, string] | null {
  if (name.length <= 100) return ['', name];
  for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
    if (i <= 155 && name.length - i - 1 <= 100 && name.length - i - 1 > 0)
      return [name.slice(0, i), name.slice(i + 1)];
  }
  return null;
}

export function paxRecord(key: string, value: Buffer | string): Buffer {
  const k = Buffer.from(key, 'utf8');
  const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const base = k.length + v.length + 3; // ' ', '=', '\n'
  const digits = String(base).length;
  let len = base + digits;
  if (String(len).length > digits) len += 1;
  return Buffer.concat([
    Buffer.from(`${len} `, 'latin1'),
    k,
    Buffer.from('=', 'latin1'),
    v,
    Buffer.from('\n', 'latin1'),
  ]);
}

function block(h: {
  name: string;
  prefix: string;
  flag: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}): Buffer {
  const b = Buffer.alloc(BLOCK);
  putString(b, F.name, h.name);
  putOctal(b, F.mode, h.mode);
  putOctal(b, F.uid, h.uid);
  putOctal(b, F.gid, h.gid);
  putOctal(b, F.size, h.size);
  putOctal(b, F.mtime, h.mtime);
  b[F.typeflag[0]] = h.flag;
  putString(b, F.linkname, h.linkname);
  USTAR_MAGIC.copy(b, F.magic[0]);
  USTAR_VERSION.copy(b, F.version[0]);
  putOctal(b, F.devmajor, h.devmajor);
  putOctal(b, F.devminor, h.devminor);
  putString(b, F.prefix, h.prefix);
  const sum = headerChecksum(b).unsigned;
  b.write(sum.toString(8).padStart(6, '0'), F.chksum[0], 6, 'latin1');
  b[F.chksum[0] + 6] = 0;
  b[F.chksum[0] + 7] = 0x20;
  return b;
}

/** Header block(s) for one entry: an optional PAX header followed by the ustar header. */
export function encodeHeader(h: WriteHeader): Buffer[] {
  const name = h.type === 'dir' && !h.name.endsWith('/') ? `${h.name}/` : h.name;
  const linkname = h.linkname ?? '';
  const pax: Buffer[] = [];

  const split = isAscii(name) ? splitUstar(name) : null;
  if (!split) pax.push(paxRecord('path', name));
  if (linkname.length > 100 || !isAscii(linkname)) pax.push(paxRecord('linkpath', linkname));
  const mtime = Math.floor(h.mtime);
  if (h.mtime !== mtime || mtime < 0 || mtime > MAX_OCTAL_12)
    pax.push(paxRecord('mtime', String(h.mtime)));
  if (h.uid > MAX_OCTAL_8) pax.push(paxRecord('uid', String(h.uid)));
  if (h.gid > MAX_OCTAL_8) pax.push(paxRecord('gid', String(h.gid)));
  if (h.size > MAX_OCTAL_12) pax.push(paxRecord('size', String(h.size)));
  if (h.xattrs) {
    for (const key of [...h.xattrs.keys()].sort())
      pax.push(paxRecord(`SCHILY.xattr.${key}`, h.xattrs.get(key)!));
  }

  const ascii = (s: string) => (isAscii(s) ? s : s.replace(/[^\x01-\x7f]/g, '_'));
  const [prefix, short] = split ?? ['', ascii(name).slice(-100)];
  const main = block({
    name: short,
    prefix,
    flag: TYPEFLAG[h.type],
    mode: h.mode & 0o7777,
    uid: Math.min(h.uid, MAX_OCTAL_8),
    gid: Math.min(h.gid, MAX_OCTAL_8),
    size: Math.min(h.size, MAX_OCTAL_12),
    mtime: Math.min(Math.max(mtime, 0), MAX_OCTAL_12),
    linkname: ascii(linkname).slice(0, 100),
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
  });
  if (pax.length === 0) return [main];

  const data = Buffer.concat(pax);
  const base = ascii(name.replace(/\/$/, '').split('/').pop() ?? '');
  const paxHeader = block({
    name: `PaxHeaders/${base}`.slice(0, 100),
    prefix: '',
    flag: T.paxHeader,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: data.length,
    mtime: Math.min(Math.max(mtime, 0), MAX_OCTAL_12),
    linkname: '',
    devmajor: 0,
    devminor: 0,
  });
  return [paxHeader, data, padding(data.length), main];
}

export function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** The end-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2);
