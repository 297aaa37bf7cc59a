// Translates Go (RE2) regular expressions, as used by containerd's `~=`
// operator, into JavaScript RegExps with the same matching behaviour.
//
// Notable differences we bridge:
//  - Go's `.` excludes only `\n`; JavaScript's also excludes `\r`, U+2028, U+2029.
//  - With (?m), Go's `^`/`$` only treat `\n` as a line break.
//  - Go's `\s` is `[\t\n\f\r ]`; JavaScript's is every Unicode space.
//  - Go treats `{` that does not start a valid repeat, `}` and `]` as literals,
//    accepts `]` first in a class and `-` anywhere in a class, escapes any ASCII
//    punctuation, and has `\A`, `\z`, `\Q…\E`, `[[:alpha:]]`, `\pL`,
//    `\p{Greek}`, `(?P<name>…)` and octal escapes.
// Features RE2 rejects (lookaround, backreferences) are rejected here too.
// Inline flags are supported at the start of the pattern (`(?i)`, `(?s)`,
// `(?m)`); elsewhere they are rejected because Node 20 has no inline modifiers.

export class RegexpSyntaxError extends Error {}

type Range = [number, number];
const MAX_CP = 0x10ffff;
const MAX_REPEAT = 1000;

const posixClasses: Record<string, Range[]> = {
  alnum: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  alpha: [
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  ascii: [[0x00, 0x7f]],
  blank: [
    [0x09, 0x09],
    [0x20, 0x20],
  ],
  cntrl: [
    [0x00, 0x1f],
    [0x7f, 0x7f],
  ],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [
    [0x21, 0x2f],
    [0x3a, 0x40],
    [0x5b, 0x60],
    [0x7b, 0x7e],
  ],
  space: [
    [0x09, 0x0d],
    [0x20, 0x20],
  ],
  upper: [[0x41, 0x5a]],
  word: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x61, 0x7a],
    [0x5f, 0x5f],
  ],
  xdigit: [
    [0x30, 0x39],
    [0x41, 0x46],
    [0x61, 0x66],
  ],
};

/** Go's `\s`: tab, newline, form feed, carriage return, space (no `\v`). */
const goSpace: Range[] = [
  [0x09, 0x0a],
  [0x0c, 0x0d],
  [0x20, 0x20],
];

function complement(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: Range[] = [];
  let next = 0;
  for (const [lo, hi] of sorted) {
    if (lo > next) out.push([next, lo - 1]);
    next = Math.max(next, hi + 1);
  }
  if (next <= MAX_CP) out.push([next, MAX_CP]);
  return out;
}

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** A code point as a JavaScript pattern literal, safe inside and outside classes. */
function literal(cp: number): string {
  if (isAlnum(cp) || cp === 0x5f || (cp >= 0x80 && (cp < 0xd800 || cp > 0xdfff))) {
    return String.fromCodePoint(cp);
  }
  return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16)}}`;
}

function rangesSource(ranges: Range[]): string {
  return ranges
    .map(([lo, hi]) => (lo === hi ? literal(lo) : `${literal(lo)}-${literal(hi)}`))
    .join('');
}

const generalCategory = /^(?:[CLMNPSZ]|C[cfos]|L[lmotu]|M[cen]|N[dlo]|P[cdefios]|S[ckmo]|Z[lps])$/;

function unicodeClass(name: string, negated: boolean): string {
  let n = name;
  let neg = negated;
  if (n.startsWith('^')) {
    neg = !neg;
    n = n.slice(1);
  }
  if (!/^[A-Za-z_]+$/.test(n))
    throw new RegexpSyntaxError(`invalid character class range \\p{${name}}`);
  const body = n === 'Any' || generalCategory.test(n) ? n : `Script=${n}`;
  const src = `\\${neg ? 'P' : 'p'}{${body}}`;
  try {
    new RegExp(src, 'u');
  } catch {
    throw new RegexpSyntaxError(`invalid character class range \\p{${name}}`);
  }
  return src;
}

interface Flags {
  i: boolean;
  m: boolean;
  s: boolean;
}

class Translator {
  private i = 0;
  private readonly chars: number[] = [];
  /** Index in `pattern` of each code point in `chars`, then the pattern's length. */
  private readonly offsets: number[] = [];
  readonly flags: Flags = { i: false, m: false, s: false };

  constructor(readonly pattern: string) {
    for (let u = 0; u < pattern.length;) {
      const c = pattern.codePointAt(u)!;
      this.chars.push(c);
      this.offsets.push(u);
      u += c > 0xffff ? 2 : 1;
    }
    this.offsets.push(pattern.length);
  }

  private peekChar(offset = 0): number | undefined {
    return this.chars[this.i + offset];
  }

  /**
   * Code points [from, to) as a slice of the original string: rebuilding text
   * by spreading code points overflowed the call stack on long patterns (and
   * made every group or brace quadratic).
   */
  private text(from: number, to = this.chars.length): string {
    const at = (i: number) => this.offsets[Math.min(Math.max(i, 0), this.chars.length)];
    return this.pattern.slice(at(from), at(to));
  }

  private rest(): string {
    return this.text(this.i);
  }

  private fail(msg: string): never {
    throw new RegexpSyntaxError(msg);
  }

  translate(): string {
    this.leadingFlags();
    let out = '';
    while (this.i < this.chars.length) {
      const c = this.chars[this.i]!;
      const ch = String.fromCodePoint(c);
      switch (ch) {
        case '\\':
          out += this.escape();
          break;
        case '[':
          out += this.charClass();
          break;
        case '(':
          out += this.group();
          break;
        case '{':
          out += this.brace();
          break;
        case '}':
        case ']':
          out += literal(c);
          this.i++;
          break;
        case '.':
          out += this.flags.s ? '[\\s\\S]' : '[^\\n]';
          this.i++;
          break;
        case '^':
          out += this.flags.m ? '(?<![^\\n])' : '^';
          this.i++;
          break;
        case '$':
          out += this.flags.m ? '(?![^\\n])' : '$';
          this.i++;
          break;
        case '*':
        case '+':
        case '?':
        case '|':
        case ')':
          out += ch;
          this.i++;
          break;
        default:
          out += literal(c);
          this.i++;
      }
    }
    return out;
  }

  private leadingFlags(): void {
    for (;;) {
      const m = /^\(\?([imsU-]+)\)/.exec(this.rest());
      if (!m) return;
      let on = true;
      for (const f of m[1]!) {
        if (f === '-') {
          if (!on) this.fail(`invalid or unsupported Perl syntax: ${m[0]}`);
          on = false;
        } else if (f === 'U') {
          this.fail('unsupported flag (?U) (ungreedy)');
        } else {
          this.flags[f as keyof Flags] = on;
        }
      }
      this.i += Array.from(m[0]).length;
    }
  }

  private group(): string {
    const rest = this.rest();
    if (!rest.startsWith('(?')) {
      this.i++;
      return '(';
    }
    if (rest.startsWith('(?:')) {
      this.i += 3;
      return '(?:';
    }
    const named = /^\(\?P?<([A-Za-z0-9_]+)>/.exec(rest);
    if (named) {
      this.i += named[0].length;
      return `(?<${named[1]}>`;
    }
    if (/^\(\?[imsU-]*[:)]/.test(rest)) {
      this.fail('inline flags are only supported at the start of the pattern');
    }
    this.fail(`invalid or unsupported Perl syntax: ${rest.slice(0, 4)}`);
  }

  /** `{n}`, `{n,}` or `{n,m}` is a repeat; any other `{` is a literal, as in Go. */
  private brace(): string {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.rest());
    if (!m) {
      this.i++;
      return literal(0x7b);
    }
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? -1 : Number(m[3]);
    if (min > MAX_REPEAT || max > MAX_REPEAT || (max >= 0 && max < min)) {
      this.fail(`invalid repeat count: ${m[0]}`);
    }
    this.i += m[0].length;
    return m[0];
  }

  /** Escape outside a class. */
  private escape(): string {
    const e = this.peekChar(1);
    if (e === undefined) this.fail('trailing backslash at end of expression');
    const ch = String.fromCodePoint(e);
    switch (ch) {
      case 'A':
        this.i += 2;
        return '(?<![\\s\\S])';
      case 'z':
        this.i += 2;
        return '(?![\\s\\S])';
      case 'b':
      case 'B':
      case 'd':
      case 'D':
      case 'w':
      case 'W':
        this.i += 2;
        return `\\${ch}`;
      case 's':
        this.i += 2;
        return `[${rangesSource(goSpace)}]`;
      case 'S':
        this.i += 2;
        return `[^${rangesSource(goSpace)}]`;
      case 'p':
      case 'P':
        return this.unicodeEscape();
      case 'Q': {
        this.i += 2;
        let out = '';
        while (this.i < this.chars.length) {
          if (this.peekChar() === 0x5c && this.peekChar(1) === 0x45 /* \E */) {
            this.i += 2;
            break;
          }
          out += literal(this.chars[this.i++]!);
        }
        return out;
      }
      default:
        return literal(this.charEscape());
    }
  }

  private unicodeEscape(): string {
    const negated = this.peekChar(1) === 0x50; /* P */
    this.i += 2;
    const c = this.peekChar();
    if (c === undefined) this.fail('invalid character class range: missing name after \\p');
    if (c === 0x7b /* { */) {
      const end = this.chars.indexOf(0x7d, this.i);
      if (end < 0) this.fail('invalid character class range: missing }');
      const name = this.text(this.i + 1, end);
      this.i = end + 1;
      return unicodeClass(name, negated);
    }
    this.i++;
    return unicodeClass(String.fromCodePoint(c), negated);
  }

  /** Escapes that stand for one character (shared by classes); returns the code point. */
  private charEscape(): number {
    const e = this.peekChar(1);
    if (e === undefined) this.fail('trailing backslash at end of expression');
    this.i += 2;
    const ch = String.fromCodePoint(e);
    switch (ch) {
      case 'a':
        return 0x07;
      case 'f':
        return 0x0c;
      case 't':
        return 0x09;
      case 'n':
        return 0x0a;
      case 'r':
        return 0x0d;
      case 'v':
        return 0x0b;
      case 'x': {
        if (this.peekChar() === 0x7b) {
          const end = this.chars.indexOf(0x7d, this.i);
          const hex = end < 0 ? '' : this.text(this.i + 1, end);
          if (!/^[0-9A-Fa-f]+$/.test(hex) || parseInt(hex, 16) > MAX_CP) {
            this.fail('invalid escape sequence: \\x{');
          }
          this.i = end + 1;
          return parseInt(hex, 16);
        }
        const hex = this.text(this.i, this.i + 2);
        if (!/^[0-9A-Fa-f]{2}$/.test(hex)) this.fail(`invalid escape sequence: \\x${hex}`);
        this.i += 2;
        return parseInt(hex, 16);
      }
    }
    if (e >= 0x30 && e <= 0x37) {
      const isOctal = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x37;
      // A single non-zero digit would be a backreference, which RE2 does not have.
      if (e !== 0x30 && !isOctal(this.peekChar())) this.fail(`invalid escape sequence: \\${ch}`);
      let v = e - 0x30;
      for (let k = 0; k < 2 && isOctal(this.peekChar()); k++)
        v = v * 8 + this.chars[this.i++]! - 0x30;
      return v;
    }
    // Any escaped ASCII punctuation is that character.
    if (e < 0x80 && !isAlnum(e)) return e;
    this.fail(`invalid escape sequence: \\${ch}`);
  }

  private charClass(): string {
    const start = this.i;
    this.i++;
    let negated = false;
    if (this.peekChar() === 0x5e /* ^ */) {
      negated = true;
      this.i++;
    }
    let out = '';
    let first = true;
    for (;;) {
      const c = this.peekChar();
      if (c === undefined) {
        this.fail(`missing closing ]: ${this.text(start)}`);
      }
      // `]` right after `[` or `[^` is a literal, as in Go.
      if (c === 0x5d && !first) {
        this.i++;
        break;
      }
      first = false;
      const posix = /^\[:(\^?)([a-z]+):\]/.exec(this.rest());
      if (posix) {
        const ranges = posixClasses[posix[2]!];
        if (!ranges) this.fail(`invalid character class range: ${posix[0]}`);
        out += rangesSource(posix[1] ? complement(ranges) : ranges);
        this.i += posix[0].length;
        continue;
      }
      if (c === 0x5c /* \ */) {
        const e = this.peekChar(1);
        const ch = e === undefined ? '' : String.fromCodePoint(e);
        if ('dDwW'.includes(ch) && ch !== '') {
          out += `\\${ch}`;
          this.i += 2;
          continue;
        }
        if (ch === 's' || ch === 'S') {
          out += rangesSource(ch === 's' ? goSpace : complement(goSpace));
          this.i += 2;
          continue;
        }
        if (ch === 'p' || ch === 'P') {
          out += this.unicodeEscape();
          continue;
        }
      }
      const lo = this.classChar();
      if (
        this.peekChar() === 0x2d /* - */ &&
        this.peekChar(1) !== 0x5d &&
        this.peekChar(1) !== undefined
      ) {
        this.i++;
        const hi = this.classChar();
        if (hi < lo) this.fail(`invalid character class range: ${literal(lo)}-${literal(hi)}`);
        out += `${literal(lo)}-${literal(hi)}`;
      } else {
        out += literal(lo);
      }
    }
    return `[${negated ? '^' : ''}${out}]`;
  }

  private classChar(): number {
    const c = this.peekChar()!;
    if (c === 0x5c) return this.charEscape();
    this.i++;
    return c;
  }
}

/**
 * Compiles a Go regular expression into an equivalent JavaScript RegExp that
 * searches (unanchored) like Go's MatchString. Throws RegexpSyntaxError.
 */
export function compileGoRegexp(pattern: string): RegExp {
  if (/[\ud800-\udfff]/u.test(pattern)) throw new RegexpSyntaxError('invalid UTF-8 in expression');
  const t = new Translator(pattern);
  const source = t.translate();
  const flags = `u${t.flags.i ? 'i' : ''}`;
  try {
    const re = new RegExp(source, flags);
    // V8 compiles on first use, once for one-byte and once for two-byte
    // subjects; a pattern too large to compile must fail here, not in the
    // middle of a later List.
    re.test('');
    re.test('\u0100');
    return re;
  } catch (err) {
    const reason =
      err instanceof Error ? err.message.replace(/^Invalid regular expression: /, '') : String(err);
    throw new RegexpSyntaxError(`invalid regular expression ${JSON.stringify(pattern)}: ${reason}`);
  }
}
