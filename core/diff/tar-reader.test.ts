import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/catalogue.js';
import { ByteReader } from './byte-reader.js';
import { decompress } from './decompress.js';
import { BLOCK } from './tar-format.js';
import { readTar } from './tar-reader.js';
import { encodeHeader, END_OF_ARCHIVE, padding, paxRecord } from './tar-writer.js';

async function* chunked(buf: Buffer, size = 333): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function entries(buf: Buffer, chunk?: number) {
  const out: {
    name: string;
    type: string;
    linkname: string;
    data: string;
    uid: number;
    mode: number;
    xattrs: Map<string, Buffer>;
    mtime: number;
    devmajor: number;
    devminor: number;
  }[] = [];
  for await (const e of readTar(new ByteReader(chunked(buf, chunk)))) {
    const parts: Buffer[] = [];
    if (e.header.type === 'file') for await (const c of e.body()) parts.push(Buffer.from(c));
    out.push({ ...e.header, data: Buffer.concat(parts).toString() });
  }
  return out;
}

async function packWithTarStream(add: (p: tarStream.Pack) => void): Promise<Buffer> {
  const pack = tarStream.pack();
  add(pack);
  pack.finalize();
  const parts: Buffer[] = [];
  for await (const c of pack) parts.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(parts);
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('readTar', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-tar-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('reads tar-stream output incl. PAX long names, links and devices, across chunk boundaries', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(130)}`;
    const buf = await packWithTarStream((p) => {
      p.entry({ name: 'dir', type: 'directory', mode: 0o755 });
      p.entry({ name: 'dir/hello', mode: 0o4755, uid: 7 }, 'hello world');
      p.entry({ name: long }, 'long');
      p.entry({ name: 'ln', type: 'symlink', linkname: 'x'.repeat(150) });
      p.entry({ name: 'hard', type: 'link', linkname: 'dir/hello' });
      p.entry({ name: 'null', type: 'character-device', devmajor: 1, devminor: 3 });
    });
    for (const chunk of [1, 7, 512, 100_000]) {
      const got = await entries(buf, chunk);
      expect(got.map((e) => [e.name, e.type])).toEqual([
        ['dir', 'dir'],
        ['dir/hello', 'file'],
        [long, 'file'],
        ['ln', 'symlink'],
        ['hard', 'link'],
        ['null', 'char'],
      ]);
      expect(got[1]).toMatchObject({ data: 'hello world', mode: 0o4755, uid: 7 });
      expect(got[2]!.data).toBe('long');
      expect(got[3]!.linkname).toBe('x'.repeat(150));
      expect(got[4]!.linkname).toBe('dir/hello');
      expect(got[5]).toMatchObject({ devmajor: 1, devminor: 3 });
    }
  });

  it('reads GNU long names written by GNU tar', async () => {
    const src = path.join(tmp, 'gnu');
    const deep = path.join(src, 'a'.repeat(90), 'b'.repeat(90));
    fs.mkdirSync(deep, { recursive: true });
    fs.writeFileSync(path.join(deep, 'c'.repeat(60)), 'deep');
    fs.symlinkSync('t'.repeat(140), path.join(src, 'sym'));
    const buf = execFileSync('tar', ['--format=gnu', '-C', src, '-cf', '-', '.']);
    const got = await entries(buf);
    const file = got.find((e) => e.type === 'file')!;
    expect(file.name).toBe(`./${'a'.repeat(90)}/${'b'.repeat(90)}/${'c'.repeat(60)}`);
    expect(file.data).toBe('deep');
    expect(got.find((e) => e.type === 'symlink')!.linkname).toBe('t'.repeat(140));
  });

  it('keeps binary PAX xattr values and fractional mtimes exactly', async () => {
    const value = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0xfe, 0x80, 0x0a, 0x3d]);
    const parts = [
      ...encodeHeader({
        name: 'cap',
        type: 'file',
        mode: 0o755,
        uid: 0,
        gid: 0,
        size: 3,
        mtime: 1700000000.25,
        xattrs: new Map([['security.capability', value]]),
      }),
      Buffer.from('abc'),
      padding(3),
      END_OF_ARCHIVE,
    ];
    const [e] = await entries(Buffer.concat(parts));
    expect(e!.xattrs.get('security.capability')).toEqual(value);
    expect(e!.mtime).toBe(1700000000.25);
    expect(e!.data).toBe('abc');
  });

  it('refuses a PAX time too large for a number', async () => {
    // Found by fuzzing: 400 digits parsed to Infinity and reached utimes.
    const data = paxRecord('mtime', '9'.repeat(400));
    const pax = encodeHeader({
      name: 'PaxHeaders/f',
      type: 'file',
      mode: 0,
      uid: 0,
      gid: 0,
      size: data.length,
      mtime: 0,
    })[0]!;
    pax[156] = 'x'.charCodeAt(0);
    pax.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of pax) sum += b;
    pax.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    const file = encodeHeader({
      name: 'f',
      type: 'file',
      mode: 0,
      uid: 0,
      gid: 0,
      size: 0,
      mtime: 0,
    });
    const err = await caught(
      entries(Buffer.concat([pax, data, padding(data.length), ...file, END_OF_ARCHIVE])),
    );
    expect(isBerthError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toMatch(/PAX mtime out of range/);
  });

  it('rejects a corrupted header with InvalidArgument', async () => {
    const buf = await packWithTarStream((p) => p.entry({ name: 'f' }, 'x'));
    buf[10] ^= 0xff;
    const err = await caught(entries(buf));
    expect(isBerthError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toMatch(/checksum/);
  });

  it('reports truncation inside an entry as DataLoss', async () => {
    const buf = await packWithTarStream((p) => p.entry({ name: 'f' }, Buffer.alloc(5000, 1)));
    const err = await caught(entries(buf.subarray(0, BLOCK + 1000)));
    expect(isBerthError(err, 'DataLoss')).toBe(true);
  });

  it('refuses unsupported entry types and oversized extended headers', async () => {
    const hdr = encodeHeader({
      name: 'x',
      type: 'file',
      mode: 0,
      uid: 0,
      gid: 0,
      size: 0,
      mtime: 0,
    })[0]!;
    const sparse = Buffer.from(hdr);
    sparse[156] = 'S'.charCodeAt(0);
    // recompute the checksum for the modified type flag
    sparse.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of sparse) sum += b;
    sparse.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    const err = await caught(entries(Buffer.concat([sparse, END_OF_ARCHIVE])));
    expect(isBerthError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toMatch(/unsupported type/);

    const huge = encodeHeader({
      name: 'PaxHeaders/x',
      type: 'file',
      mode: 0,
      uid: 0,
      gid: 0,
      size: 2 << 20,
      mtime: 0,
    })[0]!;
    huge[156] = 'x'.charCodeAt(0);
    huge.fill(0x20, 148, 156);
    sum = 0;
    for (const b of huge) sum += b;
    huge.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    const err2 = await caught(entries(Buffer.concat([huge, Buffer.alloc(2 << 20)])));
    expect((err2 as Error).message).toMatch(/exceeds the limit/);
  });
});

describe('decompress', () => {
  it('detects gzip and passes plain tar through', async () => {
    const data = Buffer.alloc(3000, 7);
    const gz = await decompress(chunked(gzipSync(data), 10));
    expect(gz.compression).toBe('gzip');
    const parts: Buffer[] = [];
    for await (const c of gz.data) parts.push(c);
    expect(Buffer.concat(parts)).toEqual(data);

    const plain = await decompress(chunked(data, 2));
    expect(plain.compression).toBe('none');
    const p2: Buffer[] = [];
    for await (const c of plain.data) p2.push(c);
    expect(Buffer.concat(p2)).toEqual(data);
  });

  it('refuses zstd with NotImplemented and reports corrupt gzip as DataLoss', async () => {
    const zstd = await caught(
      decompress(chunked(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]))),
    );
    expect(isBerthError(zstd, 'NotImplemented')).toBe(true);

    const gz = gzipSync(Buffer.alloc(100_000, 3));
    const { data } = await decompress(chunked(gz.subarray(0, gz.length - 50)));
    const err = await caught(
      (async () => {
        for await (const _ of data) void _;
      })(),
    );
    expect(isBerthError(err, 'DataLoss')).toBe(true);
  });
});
