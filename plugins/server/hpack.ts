// A minimal HPACK decoder (RFC 7541): enough to read every field of a header
// block while keeping the dynamic table in step with the peer's encoder, and to
// say where each field's bytes are so a block can be re-emitted with one field
// changed. Names and values are latin1 strings, so string length = byte length.

import { huffmanDecode } from './hpack-huffman.js';

export class HpackError extends Error {}

/** RFC 7541 Appendix A. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/** The HTTP/2 initial SETTINGS_HEADER_TABLE_SIZE. */
export const DEFAULT_TABLE_SIZE = 4096;
/** Per-entry overhead in table size accounting (RFC 7541 §4.1). */
const ENTRY_OVERHEAD = 32;

/** The dynamic table: newest entry last, evicted from the front. */
export class DynamicTable {
  private names: string[] = [];
  private values: string[] = [];
  private first = 0;
  size = 0;

  constructor(public maxSize = DEFAULT_TABLE_SIZE) {}

  get length(): number {
    return this.names.length - this.first;
  }

  /** Entry by HPACK dynamic index: 1 is the newest. */
  get(i: number): [string, string] | undefined {
    const at = this.names.length - i;
    if (i < 1 || at < this.first) return undefined;
    return [this.names[at]!, this.values[at]!];
  }

  add(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    this.evictTo(this.maxSize - size);
    // An entry larger than the table empties it and is not added (§4.4).
    if (size > this.maxSize) return;
    this.names.push(name);
    this.values.push(value);
    this.size += size;
  }

  resize(maxSize: number): void {
    this.maxSize = maxSize;
    this.evictTo(maxSize);
  }

  private evictTo(limit: number): void {
    while (this.size > limit && this.length > 0) {
      this.size -=
        this.names[this.first]!.length + this.values[this.first]!.length + ENTRY_OVERHEAD;
      this.first++;
    }
    // Compact now and then instead of shifting on every eviction.
    if (this.first > 64 && this.first * 2 > this.names.length) {
      this.names = this.names.slice(this.first);
      this.values = this.values.slice(this.first);
      this.first = 0;
    }
  }
}

/** How a field was represented (RFC 7541 §6). */
export type FieldKind = 'indexed' | 'incremental' | 'without' | 'never' | 'size-update';

export interface DecodedField {
  kind: FieldKind;
  /** The field's bytes in the block: [start, end). */
  start: number;
  end: number;
  /** Literals: where the value string starts (its length prefix). */
  valueStart: number;
  name: string;
  /** Undefined for a literal not added to the table whose name the caller did not ask about. */
  value: string | undefined;
  /** Size updates: the new table size. */
  tableSize: number;
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1). */
export function encodeInteger(value: number, prefixBits: number, pattern: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [pattern | value];
  const out = [pattern | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) | 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** A string literal without Huffman coding (RFC 7541 §5.2). */
export function encodeString(value: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(encodeInteger(value.length, 7, 0)), value]);
}

/**
 * Decodes header blocks of one connection direction, in order, keeping the
 * dynamic table. `wantValue(name)` says which literal values to decode when
 * they are not added to the table (the others are skipped, not Huffman-decoded).
 */
export class HpackDecoder {
  readonly table = new DynamicTable();
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;

  constructor(private readonly wantValue: (name: string) => boolean = () => true) {}

  decode(block: Buffer): DecodedField[] {
    this.buf = block;
    this.pos = 0;
    const fields: DecodedField[] = [];
    while (this.pos < block.length) {
      const start = this.pos;
      const b = block[start]!;
      const field: DecodedField = {
        kind: 'indexed',
        start,
        end: start,
        valueStart: start,
        name: '',
        value: undefined,
        tableSize: 0,
      };
      if (b & 0x80) {
        [field.name, field.value] = this.entry(this.integer(7));
      } else if ((b & 0xe0) === 0x20) {
        // Only at the start of a block (§4.2).
        if (fields.length > 0 && fields.at(-1)!.kind !== 'size-update') {
          throw new HpackError('dynamic table size update after a header field');
        }
        field.kind = 'size-update';
        field.tableSize = this.integer(5);
        this.table.resize(field.tableSize);
      } else {
        const incremental = (b & 0xc0) === 0x40;
        field.kind = incremental ? 'incremental' : b & 0x10 ? 'never' : 'without';
        const index = this.integer(incremental ? 6 : 4);
        field.name = index === 0 ? this.string(true)! : this.entry(index)[0];
        field.valueStart = this.pos;
        field.value = this.string(incremental || this.wantValue(field.name));
        if (incremental) this.table.add(field.name, field.value!);
      }
      field.end = this.pos;
      fields.push(field);
    }
    return fields;
  }

  private entry(index: number): [string, string] {
    if (index === 0) throw new HpackError('index 0');
    const e =
      index <= STATIC_TABLE.length
        ? (STATIC_TABLE[index - 1] as [string, string])
        : this.table.get(index - STATIC_TABLE.length);
    if (!e) throw new HpackError(`index ${index} is not in the table`);
    return e;
  }

  private integer(prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    let value = this.byte() & max;
    if (value < max) return value;
    for (let shift = 0; ; shift += 7) {
      // 2^35 is far past any size HTTP/2 can carry; stop runaway continuations.
      if (shift > 28) throw new HpackError('integer too large');
      const b = this.byte();
      value += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return value;
    }
  }

  /** Reads a string literal; decodes it only when `want`. */
  private string(want: boolean): string | undefined {
    const huffman = (this.buf[this.pos] ?? 0) & 0x80;
    const len = this.integer(7);
    const start = this.pos;
    const end = start + len;
    if (end > this.buf.length) throw new HpackError('string runs past the block');
    this.pos = end;
    if (!want) return undefined;
    if (!huffman) return this.buf.toString('latin1', start, end);
    const s = huffmanDecode(this.buf, start, end);
    if (s === undefined) throw new HpackError('invalid Huffman string');
    return s;
  }

  private byte(): number {
    if (this.pos >= this.buf.length) throw new HpackError('block ends inside a field');
    return this.buf[this.pos++]!;
  }
}
