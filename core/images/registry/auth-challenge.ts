// WWW-Authenticate parsing (RFC 7235): one header may carry several
// challenges, each a scheme followed by comma-separated auth-params whose
// values are tokens or quoted strings with backslash escapes.

export interface Challenge {
  /** Lower-cased scheme: `basic`, `bearer`, … */
  scheme: string;
  /** Parameters with lower-cased names (`realm`, `service`, `scope`, `error`). */
  params: Record<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

class Scanner {
  pos = 0;
  constructor(readonly s: string) {}

  skipSpace(): void {
    while (this.pos < this.s.length && /[ \t]/.test(this.s[this.pos]!)) this.pos++;
  }

  peek(): string | undefined {
    return this.s[this.pos];
  }

  token(): string {
    const start = this.pos;
    while (this.pos < this.s.length && TOKEN_CHAR.test(this.s[this.pos]!)) this.pos++;
    return this.s.slice(start, this.pos);
  }

  /** An unquoted value; lenient, as registries send URLs unquoted. */
  bare(): string {
    const start = this.pos;
    while (this.pos < this.s.length && !/[,\s]/.test(this.s[this.pos]!)) this.pos++;
    return this.s.slice(start, this.pos);
  }

  quoted(): string {
    this.pos++; // opening quote
    let out = '';
    while (this.pos < this.s.length) {
      const c = this.s[this.pos++]!;
      if (c === '"') return out;
      if (c === '\\' && this.pos < this.s.length) out += this.s[this.pos++];
      else out += c;
    }
    return out; // unterminated: take what there is
  }
}

/** Every challenge in one or more WWW-Authenticate header values. */
export function parseWWWAuthenticate(headers: string | string[] | undefined): Challenge[] {
  const values = headers === undefined ? [] : Array.isArray(headers) ? headers : [headers];
  const out: Challenge[] = [];
  for (const value of values) {
    const sc = new Scanner(value);
    let current: Challenge | undefined;
    while (sc.pos < sc.s.length) {
      sc.skipSpace();
      if (sc.peek() === ',') {
        sc.pos++;
        continue;
      }
      const name = sc.token();
      if (!name) {
        sc.pos++; // not a token character: skip it
        continue;
      }
      sc.skipSpace();
      if (sc.peek() === '=') {
        sc.pos++;
        sc.skipSpace();
        const v = sc.peek() === '"' ? sc.quoted() : sc.bare();
        // A parameter before any scheme is malformed and dropped.
        if (current) current.params[name.toLowerCase()] = v;
        continue;
      }
      current = { scheme: name.toLowerCase(), params: {} };
      out.push(current);
    }
  }
  return out;
}
