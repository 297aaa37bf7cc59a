// Streaming tar parser. Written for layer application rather than taken from a
// general tar library because layers need things such libraries get wrong for
// us: PAX values kept as raw bytes (SCHILY.xattr values such as
// security.capability are binary), strict checksum and numeric validation with
// clear errors on hostile input, and bounded memory for extended headers.

import { BerthError, errInvalidArgument } from '../errors/catalogue.js';
import type { ByteReader } from './byte-reader.js';
import {
  BLOCK,
  F,
  GNU_MAGIC,
  T,
  USTAR_MAGIC,
  headerChecksum,
  type EntryType,
  type TarHeader,
} from './tar-format.js';

/** Extended header records larger than this are refused (Go's archive/tar uses the same bound). */
const MAX_EXTENDED_HEADER = 1 << 20;

export interface TarEntry {
  header: TarHeader;
  /** The entry's data; reading it is optional, unread data is skipped. */
  body(): AsyncGenerator<Buffer>;
}

function field(block: Buffer, [off, len]: readonly [number, number]): Buffer {
  return block.subarray(off, off + len);
}

/** Bytes up to the first NUL. */
function cstring(buf: Buffer): Buffer {
  const nul = buf.indexOf(0);
  return nul === -1 ? buf : buf.subarray(0, nul);
}

/** Decodes a name as UTF-8, refusing bytes that would not survive the round trip. */
function utf8Name(raw: Buffer, what: string): string {
  const s = raw.toString('utf8');
  if (s.includes('\uFFFD') && !Buffer.from(s, 'utf8').equals(raw)) {
    throw errInvalidArgument(`tar ${what} ${JSON.stringify(s)} is not valid UTF-8`);
  }
  if (s.includes('\0')) throw errInvalidArgument(`tar ${what} contains a NUL byte`);
  return s;
}

/** Octal (space/NUL padded) or GNU base-256 numeric field. */
function numeric(buf: Buffer, what: string): number {
  if (buf.length > 0 && buf[0]! & 0x80) {
    if (buf[0] === 0xff) throw errInvalidArgument(`tar header ${what} is negative`);
    let v = buf[0]! & 0x7f;
    for (let i = 1; i < buf.length; i++) {
      v = v * 256 + buf[i]!;
      if (v > Number.MAX_SAFE_INTEGER) throw errInvalidArgument(`tar header ${what} out of range`);
    }
    return v;
  }
  // leading spaces/NULs, octal digits, then a space or NUL terminator (and padding)
  let i = 0;
  while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0)) i++;
  let v = 0;
  for (; i < buf.length; i++) {
    const c = buf[i]!;
    if (c >= 0x30 && c <= 0x37) v = v * 8 + (c - 0x30);
    else break;
  }
  for (; i < buf.length; i++) {
    if (buf[i] !== 0x20 && buf[i] !== 0) {
      throw errInvalidArgument(
        `tar header ${what} ${JSON.stringify(buf.toString('latin1'))} is not octal`,
      );
    }
  }
  if (v > Number.MAX_SAFE_INTEGER) throw errInvalidArgument(`tar header ${what} out of range`);
  return v;
}

function entryType(flag: number, name: string): EntryType | null {
  switch (flag) {
    case T.file:
    case T.contiguous:
      return 'file';
    case T.fileOld:
      // pre-POSIX archives mark directories only by a trailing slash
      return name.endsWith('/') ? 'dir' : 'file';
    case T.link:
      return 'link';
    case T.symlink:
      return 'symlink';
    case T.char:
      return 'char';
    case T.block:
      return 'block';
    case T.dir:
      return 'dir';
    case T.fifo:
      return 'fifo';
    default:
      return null;
  }
}

/** PAX records `"%d %s=%s\n"`; keys are UTF-8, values kept as bytes. */
export function parsePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < data.length) {
    if (data[off] === 0) break; // NUL padding after the last record
    const sp = data.indexOf(0x20, off);
    if (sp === -1 || sp - off > 20) throw errInvalidArgument('malformed PAX record length');
    const lenStr = data.toString('latin1', off, sp);
    if (!/^[1-9][0-9]*$/.test(lenStr)) throw errInvalidArgument('malformed PAX record length');
    const len = Number(lenStr);
    const end = off + len;
    if (end > data.length || data[end - 1] !== 0x0a)
      throw errInvalidArgument('malformed PAX record');
    const rec = data.subarray(sp + 1, end - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw errInvalidArgument('malformed PAX record: no key');
    out.set(utf8Name(rec.subarray(0, eq), 'PAX key'), rec.subarray(eq + 1));
    off = end;
  }
  return out;
}

function paxNumber(v: Buffer, key: string): number {
  const s = v.toString('latin1');
  if (!/^[0-9]+$/.test(s))
    throw errInvalidArgument(`PAX ${key} ${JSON.stringify(s)} is not a number`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw errInvalidArgument(`PAX ${key} out of range`);
  return n;
}

function paxTime(v: Buffer, key: string): number {
  const s = v.toString('latin1');
  if (!/^-?[0-9]+(\.[0-9]+)?$/.test(s))
    throw errInvalidArgument(`PAX ${key} ${JSON.stringify(s)} is not a time`);
  const n = Number(s);
  // Hundreds of digits parse to Infinity, which later fails utimes unclearly.
  if (!Number.isSafeInteger(Math.trunc(n))) throw errInvalidArgument(`PAX ${key} out of range`);
  return n;
}

const padding = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK;

async function readExtended(r: ByteReader, size: number, what: string): Promise<Buffer> {
  if (size > MAX_EXTENDED_HEADER)
    throw errInvalidArgument(`tar ${what} of ${size} bytes exceeds the limit`);
  const data =
    size === 0 ? Buffer.alloc(0) : Buffer.from((await r.readExact(size, what)) ?? truncated(what));
  await r.skip(padding(size), what);
  return data;
}

function truncated(what: string): never {
  throw new BerthError('DataLoss', `layer archive truncated in ${what}: data loss`);
}

/**
 * Iterates the entries of a tar stream. The archive ends at two zero blocks
 * (one followed by end of stream is accepted, as GNU tar does) or at end of
 * stream on a header boundary; bytes after the end marker are left unread.
 */
export async function* readTar(r: ByteReader): AsyncGenerator<TarEntry> {
  let pax: Map<string, Buffer> | null = null;
  let longName: string | null = null;
  let longLink: string | null = null;

  for (;;) {
    const block = await r.readExact(BLOCK, 'header');
    if (block === null) {
      if (pax || longName !== null || longLink !== null) truncated('header');
      return;
    }
    if (block.every((b) => b === 0)) {
      const next = await r.readExact(BLOCK, 'end-of-archive marker');
      if (next === null || next.every((b) => b === 0)) return;
      throw errInvalidArgument('tar archive has a zero block followed by data');
    }
    const sum = numeric(field(block, F.chksum), 'checksum');
    const { unsigned, signed } = headerChecksum(block);
    if (sum !== unsigned && sum !== signed) {
      throw errInvalidArgument(
        'tar header checksum mismatch (corrupt archive or not a tar stream)',
      );
    }

    const flag = block[F.typeflag[0]]!;
    let size = numeric(field(block, F.size), 'size');

    if (
      flag === T.paxHeader ||
      flag === T.paxGlobal ||
      flag === T.gnuLongName ||
      flag === T.gnuLongLink
    ) {
      const data = await readExtended(r, size, 'extended header');
      if (flag === T.paxHeader) pax = parsePax(data);
      else if (flag === T.gnuLongName) longName = utf8Name(cstring(data), 'long name');
      else if (flag === T.gnuLongLink) longLink = utf8Name(cstring(data), 'long link name');
      // Global PAX headers carry archive comments in practice; like Go's reader
      // (and so containerd) they are not folded into later entries.
      continue;
    }

    const magic = field(block, F.magic);
    const isUstar = magic.equals(USTAR_MAGIC);
    const isGnu = magic.equals(GNU_MAGIC);
    let name = utf8Name(cstring(field(block, F.name)), 'name');
    if (isUstar) {
      const prefix = cstring(field(block, F.prefix));
      if (prefix.length > 0) name = `${utf8Name(prefix, 'name prefix')}/${name}`;
    }
    let linkname = utf8Name(cstring(field(block, F.linkname)), 'link name');
    let mtime = numeric(field(block, F.mtime), 'mtime');
    let uid = numeric(field(block, F.uid), 'uid');
    let gid = numeric(field(block, F.gid), 'gid');
    let atime: number | undefined;
    const xattrs = new Map<string, Buffer>();

    if (longName !== null) name = longName;
    if (longLink !== null) linkname = longLink;
    if (pax) {
      for (const [key, value] of pax) {
        if (key === 'path') name = utf8Name(value, 'PAX path');
        else if (key === 'linkpath') linkname = utf8Name(value, 'PAX linkpath');
        else if (key === 'size') size = paxNumber(value, key);
        else if (key === 'uid') uid = paxNumber(value, key);
        else if (key === 'gid') gid = paxNumber(value, key);
        else if (key === 'mtime') mtime = paxTime(value, key);
        else if (key === 'atime') atime = paxTime(value, key);
        else if (key.startsWith('SCHILY.xattr.'))
          xattrs.set(key.slice('SCHILY.xattr.'.length), value);
        else if (key.startsWith('GNU.sparse.'))
          throw errInvalidArgument(`sparse tar entry ${JSON.stringify(name)} is not supported`);
      }
    }
    pax = null;
    longName = null;
    longLink = null;

    const type = entryType(flag, name);
    if (type === null) {
      throw errInvalidArgument(
        `tar entry ${JSON.stringify(name)} has unsupported type ${JSON.stringify(String.fromCharCode(flag))}`,
      );
    }
    if (uid > 0xffffffff || gid > 0xffffffff)
      throw errInvalidArgument(`tar entry ${JSON.stringify(name)} has an out-of-range owner`);

    const header: TarHeader = {
      name,
      type,
      mode: numeric(field(block, F.mode), 'mode') & 0o7777,
      uid,
      gid,
      size,
      mtime,
      atime,
      linkname,
      devmajor: isUstar || isGnu ? numeric(field(block, F.devmajor), 'devmajor') : 0,
      devminor: isUstar || isGnu ? numeric(field(block, F.devminor), 'devminor') : 0,
      xattrs,
    };

    // Hard links, symlinks and special files carry no data in practice, but the
    // size field still says how many bytes follow; honour it to stay in sync.
    let remaining = size;
    const body = async function* (): AsyncGenerator<Buffer> {
      while (remaining > 0) {
        for await (const chunk of r.take(remaining, `data of ${JSON.stringify(name)}`)) {
          remaining -= chunk.length;
          yield chunk;
        }
      }
    };
    yield { header, body };
    if (remaining > 0) await r.skip(remaining, `data of ${JSON.stringify(name)}`);
    await r.skip(padding(size), `data of ${JSON.stringify(name)}`);
  }
}
