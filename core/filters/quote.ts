// Decodes a quoted literal from a filter string. The escapes are Go's string
// escapes, with `/` and `|` accepted as alternative quote characters (containerd
// uses them for regular expressions). Only Go string escapes are legal inside
// them, so a regexp's `\d` must be written `\\d`: `name~=/^web-\\d+$/`.
// Like Go, `\xNN` and octal escapes produce bytes, so `"\xc3\xa9"` is "é".

const simpleEscapes: Record<string, number> = {
  a: 0x07,
  b: 0x08,
  f: 0x0c,
  n: 0x0a,
  r: 0x0d,
  t: 0x09,
  v: 0x0b,
  '\\': 0x5c,
};

export class QuoteSyntaxError extends Error {}

function hexValue(s: string): number {
  if (!/^[0-9A-Fa-f]+$/.test(s))
    throw new QuoteSyntaxError(`invalid hex digits ${JSON.stringify(s)}`);
  return parseInt(s, 16);
}

/** `literal` includes its opening and closing quote characters. */
export function unquote(literal: string): string {
  const quote = literal[0];
  if (literal.length < 2 || quote !== literal[literal.length - 1]) {
    throw new QuoteSyntaxError('unbalanced quotes');
  }
  if (quote !== '"' && quote !== '/' && quote !== '|') {
    throw new QuoteSyntaxError(`unsupported quote character ${JSON.stringify(quote)}`);
  }
  const body = literal.slice(1, -1);
  if (!body.includes('\\')) {
    if (body.includes(quote) || body.includes('\n')) throw new QuoteSyntaxError('invalid syntax');
    return body;
  }

  const bytes: number[] = [];
  const pushText = (s: string) => bytes.push(...Buffer.from(s, 'utf8'));
  let i = 0;
  while (i < body.length) {
    const c = body[i]!;
    if (c === quote || c === '\n') throw new QuoteSyntaxError('invalid syntax');
    if (c !== '\\') {
      const cp = body.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      pushText(ch);
      i += ch.length;
      continue;
    }
    const e = body[i + 1];
    if (e === undefined) throw new QuoteSyntaxError('trailing backslash');
    i += 2;
    const simple = simpleEscapes[e];
    if (simple !== undefined) {
      bytes.push(simple);
    } else if (e === quote) {
      pushText(e);
    } else if (e === 'x') {
      bytes.push(hexValue(body.slice(i, i + 2).padEnd(2, 'g')));
      i += 2;
    } else if (e === 'u' || e === 'U') {
      const n = e === 'u' ? 4 : 8;
      const v = hexValue(body.slice(i, i + n).padEnd(n, 'g'));
      if (v > 0x10ffff) throw new QuoteSyntaxError(`escape \\${e} out of range`);
      // Go encodes a surrogate code point as U+FFFD.
      pushText(v >= 0xd800 && v <= 0xdfff ? '\ufffd' : String.fromCodePoint(v));
      i += n;
    } else if (e >= '0' && e <= '7') {
      const digits = body.slice(i - 1, i + 2);
      if (!/^[0-7]{3}$/.test(digits)) throw new QuoteSyntaxError('invalid octal escape');
      const v = parseInt(digits, 8);
      if (v > 255) throw new QuoteSyntaxError('octal escape value > 255');
      bytes.push(v);
      i += 2;
    } else {
      throw new QuoteSyntaxError(`invalid escape \\${e}`);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
