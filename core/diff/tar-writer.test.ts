import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePax } from './tar-reader.js';
import {
  END_OF_ARCHIVE,
  encodeHeader,
  padding,
  paxRecord,
  type WriteHeader,
} from './tar-writer.js';

function archive(entries: [WriteHeader, Buffer?][]): Buffer {
  const parts: Buffer[] = [];
  for (const [h, data] of entries) {
    parts.push(...encodeHeader({ ...h, size: data?.length ?? 0 }));
    if (data) parts.push(data, padding(data.length));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

const base = { mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_000_000_000 };

describe('tar writer', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-tarw-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('PAX record lengths count their own digits, across digit-count boundaries', () => {
    for (let n = 80; n < 120; n++) {
      const rec = paxRecord('k', 'v'.repeat(n));
      const declared = Number(rec.toString('latin1').split(' ')[0]);
      expect(declared).toBe(rec.length);
      expect(parsePax(rec).get('k')!.toString()).toBe('v'.repeat(n));
    }
  });

  it('is read back by GNU tar: long names, long link targets, big ids, UTF-8, devices', () => {
    const longName = `${'a'.repeat(150)}/${'b'.repeat(120)}`;
    const buf = archive([
      [{ ...base, name: 'dir', type: 'dir', mode: 0o755 }],
      [
        { ...base, name: 'dir/file', type: 'file', mode: 0o4755, uid: 1000, gid: 1000 },
        Buffer.from('data'),
      ],
      [{ ...base, name: longName, type: 'file' }, Buffer.from('long')],
      [{ ...base, name: 'ustar-split/' + 'p'.repeat(120), type: 'file' }, Buffer.from('split')],
      [{ ...base, name: 'sym', type: 'symlink', linkname: 'l'.repeat(200) }],
      [{ ...base, name: 'big-ids', type: 'file', uid: 3_000_000, gid: 4_000_000 }, Buffer.from('')],
      [{ ...base, name: 'grüße', type: 'file' }, Buffer.from('utf8')],
      [{ ...base, name: 'hard', type: 'link', linkname: 'dir/file' }],
      [{ ...base, name: 'null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 }],
    ]);
    const file = path.join(tmp, 'w.tar');
    fs.writeFileSync(file, buf);
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', file], { encoding: 'utf8' });
    expect(listing).toContain('-rwsr-xr-x 1000/1000');
    expect(listing).toContain(longName);
    expect(listing).toContain('ustar-split/' + 'p'.repeat(120));
    expect(listing).toContain(`sym -> ${'l'.repeat(200)}`);
    expect(listing).toContain('3000000/4000000');
    expect(listing).toContain('grüße');
    expect(listing).toContain('hard link to dir/file');
    expect(listing).toMatch(/crw-rw-rw- 0\/0\s+1,3 .* null/);

    const out = path.join(tmp, 'x');
    fs.mkdirSync(out);
    execFileSync('tar', ['-C', out, '-xf', file]);
    expect(fs.readFileSync(path.join(out, longName), 'utf8')).toBe('long');
    expect(fs.readFileSync(path.join(out, 'grüße'), 'utf8')).toBe('utf8');
    expect(fs.statSync(path.join(out, 'hard')).ino).toBe(
      fs.statSync(path.join(out, 'dir/file')).ino,
    );
  });

  it('is read back by tar-stream, and the same input gives the same bytes', async () => {
    const entries: [WriteHeader, Buffer?][] = [
      [
        {
          ...base,
          name: 'x'.repeat(300),
          type: 'file',
          xattrs: new Map([['user.a', Buffer.from('1')]]),
        },
        Buffer.from('z'),
      ],
    ];
    const a = archive(entries);
    expect(archive(entries).equals(a)).toBe(true);
    const extract = tarStream.extract();
    const names: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      extract.on('entry', (h, stream, next) => {
        names.push(h.name);
        stream.on('end', () => next());
        stream.resume();
      });
      extract.on('finish', resolve);
      extract.on('error', reject);
    });
    extract.end(a);
    await done;
    expect(names).toEqual(['x'.repeat(300)]);
  });
});
