import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ResizeParser, resizeQueueFrom } from './resize.js';
import type { TerminalSize } from './types.js';

describe('resize parsing', () => {
  it('reads newline-separated and concatenated objects split across chunks', () => {
    const got: TerminalSize[] = [];
    const p = new ResizeParser((s) => got.push(s));
    p.feed('{"Width":80,"Hei');
    p.feed('ght":24}\n{"Width":100,"Height":30}{"Width":1,"Height":2}\n');
    expect(got).toEqual([
      { width: 80, height: 24 },
      { width: 100, height: 30 },
      { width: 1, height: 2 },
    ]);
  });

  it('skips malformed or out-of-range sizes', () => {
    const got: TerminalSize[] = [];
    const p = new ResizeParser((s) => got.push(s));
    p.feed('{"Width":-1,"Height":2}{"Width":"x"}{bad}{"Width":3,"Height":4}');
    expect(got).toEqual([{ width: 3, height: 4 }]);
  });

  it('queues sizes until the stream ends', async () => {
    const src = new PassThrough();
    const q = resizeQueueFrom(src);
    src.write('{"Width":5,"Height":6}\n');
    src.end();
    const all: TerminalSize[] = [];
    for await (const s of q) all.push(s);
    expect(all).toEqual([{ width: 5, height: 6 }]);
  });
});
