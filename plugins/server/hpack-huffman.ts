// The HPACK Huffman code (RFC 7541 Appendix B) is canonical: codes of equal
// length are consecutive in symbol order and each length starts where the
// shorter one ended, shifted. So the code lengths alone define it. One digit
// per symbol 0..256 (256 is EOS), in base 32 (5..30 bits).
const CODE_LENGTHS =
  'dnsssssssoussussssssssusssssssss' +
  '6aacd68baa8b8666555666666678f6ca' +
  'd67777777777777777777777878djde6' +
  'f56565666577666567655677777fbeds' +
  'kmkkmmmnmnnnnnonoomnonnnnlmnmnno' +
  'mlkmmnnlnmmolmnnllmlnmnnkmmmnmmn' +
  'qqkjmnmpqqqrrqopjlqrrqrollqqsrrr' +
  'koklmllnmmppooqnqrqqrrrrrsrrrrrq' +
  'u';

const EOS = 256;
const MAX_BITS = 30;

/** Per code length: the first code, how many codes, and where their symbols start in SYMBOLS. */
const FIRST_CODE = new Int32Array(MAX_BITS + 1);
const COUNT = new Int32Array(MAX_BITS + 1);
const OFFSET = new Int32Array(MAX_BITS + 1);
/** Symbols sorted by (code length, symbol): the canonical order. */
const SYMBOLS = new Uint16Array(EOS + 1);

(() => {
  const lengths = [...CODE_LENGTHS].map((c) => parseInt(c, 32));
  for (const len of lengths) COUNT[len]!++;
  let code = 0;
  let offset = 0;
  for (let len = 1; len <= MAX_BITS; len++) {
    FIRST_CODE[len] = code;
    OFFSET[len] = offset;
    code = (code + COUNT[len]!) << 1;
    offset += COUNT[len]!;
  }
  const next = OFFSET.slice();
  lengths.forEach((len, sym) => (SYMBOLS[next[len]!++] = sym));
})();

/**
 * Decodes a Huffman-coded string (RFC 7541 §5.2) to latin1, or undefined when
 * it is invalid: padding longer than 7 bits, padding that is not a prefix of
 * EOS, or an encoded EOS.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string | undefined {
  let out = '';
  let code = 0;
  let len = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      code = (code << 1) | ((byte >> bit) & 1);
      len++;
      const k = code - FIRST_CODE[len]!;
      if (k < COUNT[len]!) {
        const sym = SYMBOLS[OFFSET[len]! + k]!;
        if (sym === EOS) return undefined;
        out += String.fromCharCode(sym);
        code = 0;
        len = 0;
      } else if (len === MAX_BITS) {
        return undefined;
      }
    }
  }
  return len > 7 || code !== (1 << len) - 1 ? undefined : out;
}
