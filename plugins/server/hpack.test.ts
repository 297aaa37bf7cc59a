import { describe, expect, it } from 'vitest';
import { DynamicTable, encodeInteger, HpackDecoder, HpackError } from './hpack.js';
import { huffmanDecode } from './hpack-huffman.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const pairs = (d: HpackDecoder, block: string) =>
  d.decode(hex(block)).map((f) => [f.name, f.value] as const);
/** The dynamic table, newest first, as RFC 7541 Appendix C prints it. */
const table = (t: DynamicTable) =>
  Array.from({ length: t.length }, (_, i) => t.get(i + 1)!.join(': '));

describe('HPACK integers (RFC 7541 C.1)', () => {
  it('encodes with a prefix', () => {
    expect(encodeInteger(10, 5, 0)).toEqual([0x0a]);
    expect(encodeInteger(1337, 5, 0)).toEqual([0x1f, 0x9a, 0x0a]);
    expect(encodeInteger(42, 8, 0)).toEqual([0x2a]);
    expect(encodeInteger(1, 4, 0x10)).toEqual([0x11]);
  });
});

describe('HPACK field representations (RFC 7541 C.2)', () => {
  it('literal with indexing adds to the table', () => {
    const d = new HpackDecoder();
    expect(pairs(d, '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')).toEqual([
      ['custom-key', 'custom-header'],
    ]);
    expect(d.table.size).toBe(55);
  });

  it('literal without indexing and never indexed leave the table alone', () => {
    const d = new HpackDecoder();
    const [f] = d.decode(hex('040c 2f73 616d 706c 652f 7061 7468'));
    expect([f!.kind, f!.name, f!.value]).toEqual(['without', ':path', '/sample/path']);
    const [g] = d.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74'));
    expect([g!.kind, g!.name, g!.value]).toEqual(['never', 'password', 'secret']);
    expect(d.table.length).toBe(0);
  });

  it('indexed field from the static table', () => {
    expect(pairs(new HpackDecoder(), '82')).toEqual([[':method', 'GET']]);
  });
});

describe('HPACK request sequences (RFC 7541 C.3, C.4)', () => {
  const expected = [
    [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ],
    [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ],
    [
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ],
  ];
  const sizes = [57, 110, 164];
  const plain = [
    '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '8286 84be 5808 6e6f 2d63 6163 6865',
    '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
  ];
  const huffman = [
    '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
    '8286 84be 5886 a8eb 1064 9cbf',
    '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
  ];
  for (const [label, blocks] of [
    ['without Huffman', plain],
    ['with Huffman', huffman],
  ] as const) {
    it(`decodes three requests ${label}, keeping the table`, () => {
      const d = new HpackDecoder();
      blocks.forEach((b, i) => {
        expect(pairs(d, b)).toEqual(expected[i]);
        expect(d.table.size).toBe(sizes[i]);
      });
      expect(table(d.table)).toEqual([
        'custom-key: custom-value',
        'cache-control: no-cache',
        ':authority: www.example.com',
      ]);
    });
  }
});

describe('HPACK responses with eviction (RFC 7541 C.5, C.6)', () => {
  const plain = [
    '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '4803 3330 37c1 c0bf',
    '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
  ];
  const huffman = [
    '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
    '4883 640e ffc1 c0bf',
    '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
  ];
  const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
  for (const [label, blocks] of [
    ['without Huffman', plain],
    ['with Huffman', huffman],
  ] as const) {
    it(`decodes three responses ${label} in a 256-byte table`, () => {
      const d = new HpackDecoder();
      d.table.resize(256);
      expect(pairs(d, blocks[0])).toEqual([
        [':status', '302'],
        ['cache-control', 'private'],
        ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
        ['location', 'https://www.example.com'],
      ]);
      expect(d.table.size).toBe(222);
      expect(pairs(d, blocks[1])[0]).toEqual([':status', '307']);
      expect(table(d.table)).toEqual([
        ':status: 307',
        'location: https://www.example.com',
        'date: Mon, 21 Oct 2013 20:13:21 GMT',
        'cache-control: private',
      ]);
      expect(d.table.size).toBe(222);
      expect(pairs(d, blocks[2])).toEqual([
        [':status', '200'],
        ['cache-control', 'private'],
        ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
        ['location', 'https://www.example.com'],
        ['content-encoding', 'gzip'],
        ['set-cookie', cookie],
      ]);
      expect(table(d.table)).toEqual([
        `set-cookie: ${cookie}`,
        'content-encoding: gzip',
        'date: Mon, 21 Oct 2013 20:13:22 GMT',
      ]);
      expect(d.table.size).toBe(215);
    });
  }
});

describe('HPACK decoder edges', () => {
  it('applies a table size update at the start of a block and evicts', () => {
    const d = new HpackDecoder();
    pairs(d, '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d');
    const [u] = d.decode(hex('20 82'));
    expect([u!.kind, u!.tableSize]).toEqual(['size-update', 0]);
    expect(d.table.length).toBe(0);
    expect(() => d.decode(hex('82 20'))).toThrow(HpackError);
  });

  it('skips values it was not asked for, but still decodes indexed ones', () => {
    const d = new HpackDecoder((name) => name === ':authority');
    const [f] = d.decode(hex('040c 2f73 616d 706c 652f 7061 7468'));
    expect([f!.name, f!.value]).toEqual([':path', undefined]);
  });

  it('rejects truncated blocks, bad indexes and bad Huffman strings', () => {
    for (const bad of ['41', '410f 7777', 'be', '80', '4181 ff', '41 84 ffff ffff']) {
      expect(() => new HpackDecoder().decode(hex(bad)), bad).toThrow(HpackError);
    }
  });

  it('decodes Huffman padding rules', () => {
    // "a" is 00011 (5 bits) + 111 padding.
    expect(huffmanDecode(hex('1f'), 0, 1)).toBe('a');
    // Padding that is not all ones, and a full byte of padding, are errors.
    expect(huffmanDecode(hex('18'), 0, 1)).toBeUndefined();
    expect(huffmanDecode(hex('1fff'), 0, 2)).toBeUndefined();
  });

  it('evicts oldest entries and drops an entry larger than the table', () => {
    const t = new DynamicTable(100);
    t.add('a', 'x'.repeat(30)); // 63
    t.add('b', 'y'.repeat(10)); // 43: evicts a
    expect(table(t)).toEqual([`b: ${'y'.repeat(10)}`]);
    t.add('c', 'z'.repeat(100));
    expect(t.length).toBe(0);
    expect(t.size).toBe(0);
    for (let i = 0; i < 500; i++) t.add('k', String(i)); // exercises compaction
    expect(t.get(1)).toEqual(['k', '499']);
    expect(t.get(2)).toEqual(['k', '498']);
    expect(t.get(3)).toBeUndefined();
  });
});
