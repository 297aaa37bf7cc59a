import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BerthError } from '../errors/catalogue.js';
import { chunked, cuts, expectClearError, fuzz, mutated, rejected } from '../../api/fuzz.js';
import { ByteReader } from './byte-reader.js';
import { BLOCK, F, headerChecksum, T, type EntryType, type TarHeader } from './tar-format.js';
import { readTar } from './tar-reader.js';
import {
  encodeHeader,
  END_OF_ARCHIVE,
  padding,
  paxRecord,
  type WriteHeader,
} from './tar-writer.js';

// Names without NUL, in well-formed UTF-16, not ending in '/' (the writer adds
// one to directories).
const name = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 120 })
  .map((s) => s.replaceAll('\0', '_').replace(/\/+$/, '') || 'x');
const xattrName = fc.string({ minLength: 1, maxLength: 20 }).map((s) => s.replace(/[\0=]/g, '_'));

const entry = fc
  .record({
    name,
    type: fc.constantFrom<EntryType>('file', 'dir', 'symlink', 'link', 'char', 'block', 'fifo'),
    mode: fc.nat({ max: 0o7777 }),
    uid: fc.nat({ max: 0xffffffff }),
    gid: fc.nat({ max: 0xffffffff }),
    mtime: fc.oneof(
      fc.integer({ min: 0, max: 2 ** 34 }),
      fc.integer({ min: 1, max: 2 ** 34 * 1000 }).map((ms) => ms / 1000),
    ),
    linkname: fc.string({ unit: 'grapheme', maxLength: 120 }).map((s) => s.replaceAll('\0', '_')),
    devmajor: fc.nat({ max: 0o7777777 }),
    devminor: fc.nat({ max: 0o7777777 }),
    xattrs: fc
      .array(fc.tuple(xattrName, fc.uint8Array({ maxLength: 16 })), { maxLength: 2 })
      .map((kv) => new Map(kv.map(([k, v]) => [k, Buffer.from(v)]))),
    data: fc.uint8Array({ maxLength: 700 }).map((b) => Buffer.from(b)),
  })
  .map((e) => ({ ...e, data: e.type === 'file' ? e.data : Buffer.alloc(0) }));

type Entry = Omit<WriteHeader, 'size'> & { data: Buffer };

/** An archive and the offsets of its ustar/PAX header blocks. */
function archive(entries: Entry[]): { bytes: Buffer; headers: number[] } {
  const parts: Buffer[] = [];
  const headers: number[] = [];
  let off = 0;
  const add = (b: Buffer) => {
    parts.push(b);
    off += b.length;
  };
  for (const e of entries) {
    for (const b of encodeHeader({ ...e, size: e.data.length })) {
      if (
        b.length === BLOCK &&
        (b[F.typeflag[0]] !== 0 || b.subarray(257, 262).toString() === 'ustar')
      ) {
        headers.push(off);
      }
      add(b);
    }
    add(e.data);
    add(padding(e.data.length));
  }
  add(END_OF_ARCHIVE);
  return { bytes: Buffer.concat(parts), headers };
}

async function* source(chunks: Buffer[]): AsyncGenerator<Buffer> {
  yield* chunks;
}

/** Reads every entry (bodies of every other one), returning headers and data. */
async function readAll(chunks: Buffer[]): Promise<{ header: TarHeader; data: Buffer }[]> {
  const out: { header: TarHeader; data: Buffer }[] = [];
  let i = 0;
  for await (const e of readTar(new ByteReader(source(chunks)))) {
    const parts: Buffer[] = [];
    if (i++ % 2 === 0) for await (const c of e.body()) parts.push(Buffer.from(c));
    out.push({ header: e.header, data: Buffer.concat(parts) });
  }
  return out;
}

function fixChecksum(b: Buffer, at: number): void {
  const block = b.subarray(at, at + BLOCK);
  if (block.length < BLOCK) return;
  block.write(
    headerChecksum(block).unsigned.toString(8).padStart(6, '0'),
    F.chksum[0],
    6,
    'latin1',
  );
  block[F.chksum[0] + 6] = 0;
  block[F.chksum[0] + 7] = 0x20;
}

/** Header fields overwritten with hostile text, checksums fixed so the reader looks further. */
const damagedHeaders = fc
  .tuple(
    fc.array(entry, { minLength: 1, maxLength: 3 }),
    fc.array(
      fc.record({
        header: fc.nat(),
        field: fc.constantFrom(
          ...Object.values<readonly [number, number]>(F).filter(([off]) => off !== F.chksum[0]),
        ),
        text: fc.oneof(
          fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b)),
          fc
            .constantFrom(
              '77777777777\0',
              '\x80\xff\xff\xff\xff\xff\xff\xff',
              '\xff\x00',
              'x',
              'L',
              'K',
              'g',
            )
            .map((s) => Buffer.from(s, 'latin1')),
        ),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([entries, edits]) => {
    const { bytes, headers } = archive(entries);
    for (const e of edits) {
      const at = headers[e.header % headers.length]!;
      const [off, len] = e.field;
      e.text.copy(bytes, at + off, 0, Math.min(len, e.text.length));
      fixChecksum(bytes, at);
    }
    return bytes;
  });

/** A PAX header with hostile records before an otherwise valid entry. */
const paxValue = fc.oneof(
  fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b)),
  fc.stringMatching(/^-?[0-9]{1,400}(\.[0-9]{1,40})?$/).map((s) => Buffer.from(s)),
  // Long digit runs: past 2^53, and past what a double holds at all.
  fc.integer({ min: 1, max: 400 }).map((n) => Buffer.from('9'.repeat(n))),
  fc.constantFrom('', '-1', '1e9', 'NaN', '9007199254740993', '0x10').map((s) => Buffer.from(s)),
);
const hostilePax = fc
  .tuple(
    fc.array(
      fc.tuple(
        fc.constantFrom(
          'path',
          'linkpath',
          'size',
          'uid',
          'gid',
          'mtime',
          'atime',
          'SCHILY.xattr.user.a',
          'GNU.sparse.map',
          'comment',
        ),
        paxValue,
      ),
      { minLength: 1, maxLength: 4 },
    ),
    // An entry that needs no PAX header of its own, which would replace this one.
    entry.map((e) => ({
      ...e,
      name: 'f',
      linkname: '',
      uid: e.uid & 0o7777777,
      gid: e.gid & 0o7777777,
      mtime: Math.floor(e.mtime),
      xattrs: new Map(),
    })),
  )
  .map(([records, e]) => {
    const data = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
    const [paxHeader] = encodeHeader({
      name: 'pax',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: data.length,
      mtime: 0,
    });
    paxHeader![F.typeflag[0]] = T.paxHeader;
    fixChecksum(paxHeader!, 0);
    return Buffer.concat([paxHeader!, data, padding(data.length), archive([e]).bytes]);
  });

describe('readTar (fuzz)', () => {
  it('reads back what the writer wrote, however the stream is split', async () => {
    await fuzz(
      'tar round trip',
      fc.asyncProperty(fc.array(entry, { maxLength: 4 }), cuts, async (entries, cs) => {
        const got = await readAll(chunked(archive(entries).bytes, cs));
        expect(got.map((g) => g.header)).toEqual(
          entries.map((e) => ({
            name: e.type === 'dir' ? `${e.name}/` : e.name,
            type: e.type,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            size: e.data.length,
            mtime: e.mtime,
            atime: undefined,
            linkname: e.linkname,
            devmajor: e.devmajor,
            devminor: e.devminor,
            xattrs: e.xattrs,
          })),
        );
        got.forEach((g, i) => {
          if (i % 2 === 0) expect(g.data).toEqual(entries[i]!.data);
        });
      }),
    );
  });

  it('refuses hostile archives only with InvalidArgument or DataLoss, with sane headers', async () => {
    const valid = fc.array(entry, { maxLength: 3 }).map((es) => archive(es).bytes);
    const input = fc.oneof(mutated(valid), damagedHeaders, hostilePax);
    await fuzz(
      'tar hostile',
      fc.asyncProperty(input, cuts, async (bytes, cs) => {
        let got: { header: TarHeader; data: Buffer }[] = [];
        const err = await rejected(async () => (got = await readAll(chunked(bytes, cs))));
        if (err !== undefined) {
          expectClearError(err, BerthError);
          expect(['InvalidArgument', 'DataLoss']).toContain((err as BerthError).code);
          return;
        }
        let data = 0;
        for (const { header: h, data: d } of got) {
          data += d.length;
          for (const n of [
            h.mode,
            h.uid,
            h.gid,
            h.size,
            h.mtime,
            h.atime ?? 0,
            h.devmajor,
            h.devminor,
          ]) {
            expect(Number.isFinite(n), `header number ${n} of ${JSON.stringify(h.name)}`).toBe(
              true,
            );
          }
          expect(h.name).not.toContain('\0');
        }
        expect(data).toBeLessThanOrEqual(bytes.length);
      }),
    );
  });
});
