// Tokenizer for containerd's filter syntax. It reproduces containerd's lexical
// rules closely because clients (ctr, nerdctl) send the same strings to us:
//
//  - `"`, `/` and `|` open quoted literals. A value that starts with `/` is
//    therefore a quoted literal, so `topic==/tasks/exit` is not a bare value;
//    clients write `topic=="/tasks/exit"`.
//  - `,` and `.` are separators; `=`, `!` and `~` form operators (greedily,
//    so `===` is one unsupported operator).
//  - Right after an operator the next word is scanned as a value, which may
//    contain any graphic character except `,` and whitespace.
//  - Everywhere else a word is a field: `[A-Za-z0-9_-]+`.
//
// Positions are indices into the JavaScript string.

export type TokenKind =
  | 'eof'
  | 'quoted'
  | 'value'
  | 'field'
  | 'separator'
  | 'operator'
  | 'illegal'
  /** A character that starts no token; the parser reports it. */
  | 'char';

export interface Token {
  kind: TokenKind;
  /** Index of the token's first character (input length for end of input). */
  pos: number;
  /** Source text of the token; for `illegal`, the reason. */
  text: string;
}

export const EOF = -1;
export const ILLEGAL = -2;

export function isQuoteChar(c: number): boolean {
  return c === 0x22 /* " */ || c === 0x2f /* / */ || c === 0x7c; /* | */
}

function isSeparatorChar(c: number): boolean {
  return c === 0x2c /* , */ || c === 0x2e; /* . */
}

function isOperatorChar(c: number): boolean {
  return c === 0x3d /* = */ || c === 0x21 /* ! */ || c === 0x7e; /* ~ */
}

function isFieldChar(c: number): boolean {
  return (
    c === 0x2d /* - */ ||
    c === 0x5f /* _ */ ||
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a)
  );
}

// Go's unicode.IsSpace is the Unicode White_Space property.
const spaceRe = /^\p{White_Space}$/u;
// Go's IsGraphic: letters, marks, numbers, punctuation, symbols and the ASCII space.
const graphicRe = /^[\p{L}\p{M}\p{N}\p{P}\p{S}\p{Zs}]$/u;

function isSpace(c: number): boolean {
  return c >= 0 && spaceRe.test(String.fromCodePoint(c));
}

function isValueChar(c: number): boolean {
  return c >= 0 && c !== 0x2c && !isSpace(c) && graphicRe.test(String.fromCodePoint(c));
}

function isHexDigit(c: number, base: number): boolean {
  if (c >= 0x30 && c <= 0x39) return c - 0x30 < base;
  if (base !== 16) return false;
  return (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

export class Scanner {
  /** Start of the character most recently read by next(). */
  private pos = 0;
  /** Index just past the character most recently read by next(). */
  private ppos = 0;
  private err = '';

  constructor(readonly input: string) {}

  /** Reads the next code point, or EOF / ILLEGAL. */
  private next(): number {
    if (this.ppos >= this.input.length) {
      this.pos = this.input.length;
      return EOF;
    }
    this.pos = this.ppos;
    const c = this.input.codePointAt(this.ppos)!;
    this.ppos += c > 0xffff ? 2 : 1;
    if (c >= 0xd800 && c <= 0xdfff) {
      this.error('invalid character (lone surrogate)');
      return ILLEGAL;
    }
    if (c === 0) {
      this.error('unexpected null');
      return ILLEGAL;
    }
    return c;
  }

  /** The next code point and its index, without consuming it. */
  peek(): { char: number; pos: number } {
    const { pos, ppos } = this;
    const char = this.next();
    const at = char === EOF ? this.input.length : this.pos;
    this.pos = pos;
    this.ppos = ppos;
    return { char, pos: at };
  }

  /**
   * Scans one token. `afterOperator` selects value scanning for the word that
   * follows an operator.
   */
  scan(afterOperator = false): Token {
    this.err = '';
    let c = this.next();
    while (c >= 0 && isSpace(c)) c = this.next();
    const start = c === EOF ? this.input.length : this.pos;

    if (c === EOF) return { kind: 'eof', pos: start, text: '' };
    if (c === ILLEGAL) return { kind: 'illegal', pos: start, text: this.err };
    if (isQuoteChar(c)) {
      if (!this.scanQuoted(c)) return { kind: 'illegal', pos: start, text: this.err };
      return { kind: 'quoted', pos: start, text: this.input.slice(start, this.ppos) };
    }
    if (isSeparatorChar(c)) return { kind: 'separator', pos: start, text: String.fromCodePoint(c) };
    if (isOperatorChar(c)) {
      this.scanWhile(isOperatorChar);
      return { kind: 'operator', pos: start, text: this.input.slice(start, this.ppos) };
    }
    if (afterOperator) {
      // The first character of a value may be anything that fell through above.
      this.scanWhile(isValueChar);
      return { kind: 'value', pos: start, text: this.input.slice(start, this.ppos) };
    }
    if (isFieldChar(c)) {
      this.scanWhile(isFieldChar);
      return { kind: 'field', pos: start, text: this.input.slice(start, this.ppos) };
    }
    return { kind: 'char', pos: start, text: String.fromCodePoint(c) };
  }

  private scanWhile(pred: (c: number) => boolean): void {
    while (pred(this.peek().char)) this.next();
  }

  /** Consumes a quoted literal whose opening quote was just read. */
  private scanQuoted(quote: number): boolean {
    let legal = true;
    let c = this.next();
    while (c !== quote) {
      if (c === 0x0a || c < 0) {
        this.error('quoted literal not terminated');
        return false;
      }
      if (c === 0x5c /* \ */) {
        const r = this.scanEscape(quote);
        c = r.next;
        if (!r.legal) legal = false;
      } else {
        c = this.next();
      }
    }
    return legal;
  }

  /** Validates one escape sequence; returns the character after it. */
  private scanEscape(quote: number): { next: number; legal: boolean } {
    const c = this.next();
    if (c === quote || (c > 0 && 'abfnrtv\\'.includes(String.fromCodePoint(c)))) {
      return { next: this.next(), legal: true };
    }
    if (c >= 0x30 && c <= 0x37) return this.scanDigits(c, 8, 3);
    if (c === 0x78 /* x */) return this.scanDigits(this.next(), 16, 2);
    if (c === 0x75 /* u */) return this.scanDigits(this.next(), 16, 4);
    if (c === 0x55 /* U */) return this.scanDigits(this.next(), 16, 8);
    this.error('illegal escape sequence');
    return { next: c, legal: false };
  }

  private scanDigits(first: number, base: number, count: number): { next: number; legal: boolean } {
    let c = first;
    let n = count;
    while (n > 0 && isHexDigit(c, base)) {
      c = this.next();
      n--;
    }
    if (n > 0) {
      this.error('illegal numeric escape sequence');
      return { next: c, legal: false };
    }
    return { next: c, legal: true };
  }

  private error(msg: string): void {
    if (this.err === '') this.err = msg;
  }
}
