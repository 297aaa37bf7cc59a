// The tar header layout shared by the reader and the writer: POSIX ustar with
// PAX extended headers, plus the GNU long-name records older producers emit.

export const BLOCK = 512;

/** Header field offsets and lengths (ustar). */
export const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

/** Type flags as the byte found at offset 156. */
export const T = {
  file: 0x30, // '0'
  fileOld: 0x00, // NUL, pre-POSIX regular file
  link: 0x31,
  symlink: 0x32,
  char: 0x33,
  block: 0x34,
  dir: 0x35,
  fifo: 0x36,
  contiguous: 0x37,
  paxHeader: 0x78, // 'x'
  paxGlobal: 0x67, // 'g'
  gnuLongName: 0x4c, // 'L'
  gnuLongLink: 0x4b, // 'K'
} as const;

export type EntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export const USTAR_MAGIC = Buffer.from('ustar\x00', 'latin1');
export const USTAR_VERSION = Buffer.from('00', 'latin1');
export const GNU_MAGIC = Buffer.from('ustar ', 'latin1');

/** A parsed entry header, after PAX and GNU long-name records are folded in. */
export interface TarHeader {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch; fractional when a PAX mtime carried sub-second precision. */
  mtime: number;
  atime?: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from PAX `SCHILY.xattr.<name>` records, values as raw bytes. */
  xattrs: Map<string, Buffer>;
}

/** Largest value an 8-byte octal numeric field holds (7 digits plus terminator). */
export const MAX_OCTAL_8 = 0o7777777;
/** Largest value the 12-byte size/mtime fields hold in octal (11 digits). */
export const MAX_OCTAL_12 = 0o77777777777;

export function headerChecksum(block: Buffer): { unsigned: number; signed: number } {
  // the checksum field itself counts as eight spaces
  let unsigned = 8 * 0x20;
  let high = 0; // bytes >= 0x80, for the historical signed-char variant
  for (let i = 0; i < 148; i++) {
    const b = block[i]!;
    unsigned += b;
    if (b > 127) high++;
  }
  for (let i = 156; i < BLOCK; i++) {
    const b = block[i]!;
    unsigned += b;
    if (b > 127) high++;
  }
  return { unsigned, signed: unsigned - 256 * high };
}
