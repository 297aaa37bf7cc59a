import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CriLogWriter, LineSplitter, rfc3339Nano } from './log-writer.js';

function split(max: number, chunks: (string | Buffer)[], end = true): [string, string][] {
  const out: [string, string][] = [];
  const s = new LineSplitter(max, (tag, content) => out.push([tag, content.toString('utf8')]));
  for (const c of chunks) s.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  if (end) s.end();
  return out;
}

const RECORD = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z) (stdout|stderr) ([PF]) (.*)$/;

describe('rfc3339Nano', () => {
  it('prints Go RFC3339Nano: UTC, trailing zeros of the fraction dropped', () => {
    expect(rfc3339Nano(0, 0)).toBe('1970-01-01T00:00:00Z');
    expect(rfc3339Nano(1500, 0)).toBe('1970-01-01T00:00:01.5Z');
    expect(rfc3339Nano(1, 230_000)).toBe('1970-01-01T00:00:00.00123Z');
    expect(rfc3339Nano(Date.UTC(2024, 1, 29, 23, 59, 59, 999), 999_999)).toBe(
      '2024-02-29T23:59:59.999999999Z',
    );
  });
});

describe('LineSplitter', () => {
  it('emits one F record per newline-terminated line, across chunk boundaries', () => {
    expect(split(16, ['hel', 'lo\nwor', 'ld\n', '\n'])).toEqual([
      ['F', 'hello'],
      ['F', 'world'],
      ['F', ''],
    ]);
  });

  it('splits a long line into P records of the maximum size and ends it with F', () => {
    expect(split(4, ['abcdefghij\n'])).toEqual([
      ['P', 'abcd'],
      ['P', 'efgh'],
      ['F', 'ij'],
    ]);
    // The same bytes one at a time give the same records.
    expect(
      split(
        4,
        [...'abcdefghij\n'].map((c) => c),
      ),
    ).toEqual([
      ['P', 'abcd'],
      ['P', 'efgh'],
      ['F', 'ij'],
    ]);
  });

  it('keeps a line of exactly the maximum size in one F record however it arrives', () => {
    expect(split(4, ['abcd\n'])).toEqual([['F', 'abcd']]);
    expect(split(4, ['abcd', '\n'])).toEqual([['F', 'abcd']]);
    expect(split(4, ['abcde\n'])).toEqual([
      ['P', 'abcd'],
      ['F', 'e'],
    ]);
  });

  it('writes an unterminated last line as P at end of stream and drops a CR before LF', () => {
    expect(split(16, ['a\r\nb'])).toEqual([
      ['F', 'a'],
      ['P', 'b'],
    ]);
    expect(split(16, ['pending'], false)).toEqual([]);
  });

  it('splits on byte counts and the records rejoin to the original bytes', () => {
    const line = Buffer.from('€€'); // 6 bytes
    const recs: [string, Buffer][] = [];
    const s = new LineSplitter(4, (tag, content) => recs.push([tag, Buffer.from(content)]));
    s.push(Buffer.concat([line, Buffer.from('\n')]));
    expect(recs.map(([t, b]) => [t, b.length])).toEqual([
      ['P', 4],
      ['F', 2],
    ]);
    expect(Buffer.concat(recs.map((r) => r[1]))).toEqual(line);
  });
});

describe('CriLogWriter', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-crilog-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('writes both streams as timestamped records and follows a reopen after rotation', async () => {
    const file = path.join(dir, 'pod', 'c', '0.log');
    const w = new CriLogWriter(file, 8);
    const out = new PassThrough();
    const err = new PassThrough();
    w.attach(out, 'stdout');
    w.attach(err, 'stderr');
    out.write('hello\n');
    err.write('this line is long\n');
    await new Promise((r) => setImmediate(r));

    await fs.rename(file, `${file}.1`);
    w.reopen();
    out.write('after\n');
    out.end('tail');
    err.end();
    await w.done;
    w.close();

    const parse = (text: string) =>
      text
        .trimEnd()
        .split('\n')
        .map((l) => {
          const m = RECORD.exec(l);
          expect(m, l).not.toBeNull();
          return [m![2], m![3], m![4]];
        });
    expect(parse(await fs.readFile(`${file}.1`, 'utf8'))).toEqual([
      ['stdout', 'F', 'hello'],
      ['stderr', 'P', 'this lin'],
      ['stderr', 'P', 'e is lon'],
      ['stderr', 'F', 'g'],
    ]);
    expect(parse(await fs.readFile(file, 'utf8'))).toEqual([
      ['stdout', 'F', 'after'],
      ['stdout', 'P', 'tail'],
    ]);
    // Timestamps are in order within a file.
    const stamps = (await fs.readFile(`${file}.1`, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => l.split(' ')[0]!);
    expect([...stamps].sort()).toEqual(stamps);
  });
});
