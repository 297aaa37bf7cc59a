import zlib from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  expectClearError,
  fuzz,
  hostileBytes,
  rejected,
  thrown,
  trickyString,
} from '../../../api/fuzz.js';
import { SPDY3_DICTIONARY } from './dictionary.js';
import { SpdyProtocolError } from './frames.js';
import {
  decodeHeaderBlock,
  encodeHeaderBlock,
  HeaderCompressor,
  HeaderDecompressor,
  MAX_HEADER_BLOCK,
  type HeaderMap,
} from './headers.js';

// Names are lowercase on the wire and may not contain NUL (it separates values).
const name = trickyString.map((s) => s.toLowerCase().replaceAll('\0', ''));
const value = fc.array(fc.string({ unit: 'grapheme', maxLength: 20 }), {
  minLength: 1,
  maxLength: 3,
});
const headers = fc.dictionary(name, value, { maxKeys: 6 });

function expected(h: Record<string, string[]>): HeaderMap {
  const out: HeaderMap = Object.create(null);
  for (const [k, v] of Object.entries(h)) out[k] = v.flatMap((s) => s.split('\0'));
  return out;
}

const plain = (m: HeaderMap) => Object.entries(m);

/** Blocks with one value holding up to far more NUL-separated values than any real header. */
const manyValues = fc
  .oneof(fc.integer({ min: 1, max: 2000 }), fc.constant(200_000))
  .map((n) => encodeHeaderBlock({ a: '\0'.repeat(n) }));

describe('SPDY header blocks (fuzz)', () => {
  it('decodes what encodeHeaderBlock wrote, whatever the header names', async () => {
    await fuzz(
      'spdy header block round trip',
      fc.property(headers, (h) => {
        expect(plain(decodeHeaderBlock(encodeHeaderBlock(h)))).toEqual(plain(expected(h)));
      }),
    );
  });

  it('refuses hostile blocks only with SpdyProtocolError and returns no more text than it read', async () => {
    await fuzz(
      'spdy header block hostile',
      fc.property(fc.oneof(hostileBytes(headers.map(encodeHeaderBlock)), manyValues), (raw) => {
        let out: HeaderMap = {};
        const err = thrown(() => (out = decodeHeaderBlock(raw)));
        if (err !== undefined) return expectClearError(err, SpdyProtocolError);
        const text = Object.entries(out).reduce(
          (n, [k, vs]) => n + k.length + vs.reduce((m, v) => m + v.length, 0),
          0,
        );
        expect(text).toBeLessThanOrEqual(raw.length);
      }),
    );
  });

  it('inflates a run of blocks through one shared zlib context', async () => {
    await fuzz(
      'spdy header compression round trip',
      fc.asyncProperty(fc.array(headers, { minLength: 1, maxLength: 4 }), async (blocks) => {
        const c = new HeaderCompressor();
        const d = new HeaderDecompressor();
        try {
          for (const h of blocks) {
            expect(plain(await d.decompress(await c.compress(h)))).toEqual(plain(expected(h)));
          }
        } finally {
          c.close();
          d.close();
        }
      }),
    );
  });

  it('refuses hostile compressed blocks only with SpdyProtocolError', async () => {
    const deflated = headers.map((h) =>
      zlib.deflateSync(encodeHeaderBlock(h), { dictionary: SPDY3_DICTIONARY }),
    );
    // Small inputs that inflate past the limit.
    const bomb = fc
      .integer({ min: MAX_HEADER_BLOCK + 1, max: 4 * MAX_HEADER_BLOCK })
      .map((n) => zlib.deflateSync(Buffer.alloc(n), { dictionary: SPDY3_DICTIONARY }));
    await fuzz(
      'spdy compressed header hostile',
      fc.asyncProperty(fc.oneof(hostileBytes(deflated), bomb), async (block) => {
        const d = new HeaderDecompressor();
        try {
          const err = await rejected(() => d.decompress(block));
          if (err !== undefined) expectClearError(err, SpdyProtocolError);
        } finally {
          d.close();
        }
      }),
    );
  });
});
