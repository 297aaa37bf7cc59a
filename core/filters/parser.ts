// Parser for containerd's filter syntax:
//
//   selectors := selector ("," selector)*
//   selector  := fieldpath [operator value]
//   fieldpath := field ("." field)*
//   field     := [A-Za-z0-9_-]+ | "double-quoted"
//   operator  := "==" | "!=" | "~="
//   value     := bare | "double-quoted" | /slash-quoted/ | |pipe-quoted|
//
// `,` is AND within one filter string; a list of filter strings is OR
// (containerd's ParseAll). `/…/` and `|…|` quoting is only accepted for `~=`
// values. Quoted literals use Go escapes; single quotes are not quotes (a bare
// value may contain them literally), exactly as in containerd. There is no `|`
// OR operator: `|` only quotes.
//
// One deliberate difference: containerd accepts an invalid regular expression
// and then never matches; we reject it when parsing.

import { errInvalidArgument } from '../errors/catalogue.js';
import { All, AnyOf, Selector, always, type Filter, type Operator } from './filter.js';
import { QuoteSyntaxError, unquote } from './quote.js';
import { RegexpSyntaxError, compileGoRegexp } from './regexp.js';
import { EOF, ILLEGAL, Scanner, type Token } from './scanner.js';

export class FilterParseError extends Error {
  constructor(
    readonly input: string,
    readonly pos: number,
    readonly reason: string,
  ) {
    super(`filters: parse error: ${FilterParseError.locate(input, pos)}: ${reason}`);
    this.name = 'FilterParseError';
  }

  /** Marks the offending character: `[before >|c|< after]`. */
  static locate(input: string, pos: number): string {
    if (pos >= input.length) return `[${input}]`;
    const cp = input.codePointAt(pos)!;
    const end = pos + (cp > 0xffff ? 2 : 1);
    return `[${input.slice(0, pos)} >|${input.slice(pos, end)}|< ${input.slice(end)}]`;
  }
}

const operators: Record<string, Operator> = { '==': '==', '!=': '!=', '~=': '~=' };

class Parser {
  private readonly scanner: Scanner;

  constructor(private readonly input: string) {
    this.scanner = new Scanner(input);
  }

  parse(): Filter {
    const selectors = [this.selector()];
    for (;;) {
      const { char, pos } = this.scanner.peek();
      if (char === EOF) break;
      if (char === ILLEGAL) {
        const tok = this.scanner.scan();
        throw this.error(tok.pos, tok.text);
      }
      if (char !== 0x2c /* , */) {
        throw this.error(pos, `unexpected input: ${String.fromCodePoint(char)}`);
      }
      this.scanner.scan();
      selectors.push(this.selector());
    }
    return new All(selectors);
  }

  private selector(): Selector {
    const fieldpath = this.fieldpath();
    const next = this.scanner.peek().char;
    if (next === EOF || next === 0x2c) return new Selector(fieldpath, 'present');

    const opToken = this.scanner.scan();
    if (opToken.kind === 'illegal') throw this.error(opToken.pos, opToken.text);
    if (opToken.kind !== 'operator') {
      throw this.error(opToken.pos, 'expected an operator ("=="|"!="|"~=")');
    }
    const op = operators[opToken.text];
    if (!op) throw this.error(opToken.pos, `unsupported operator ${JSON.stringify(opToken.text)}`);

    const valueToken = this.scanner.scan(true);
    const value = this.value(valueToken, op === '~=');
    if (op !== '~=') return new Selector(fieldpath, op, value);
    try {
      return new Selector(fieldpath, op, value, compileGoRegexp(value));
    } catch (err) {
      if (err instanceof RegexpSyntaxError) throw this.error(valueToken.pos, err.message);
      throw err;
    }
  }

  private fieldpath(): string[] {
    const fields = [this.field()];
    while (this.scanner.peek().char === 0x2e /* . */) {
      this.scanner.scan();
      fields.push(this.field());
    }
    return fields;
  }

  private field(): string {
    const tok = this.scanner.scan();
    switch (tok.kind) {
      case 'field':
        return tok.text;
      case 'quoted':
        return this.unquote(tok, false);
      case 'illegal':
        throw this.error(tok.pos, tok.text);
      default:
        throw this.error(tok.pos, 'expected field or quoted');
    }
  }

  private value(tok: Token, allowAltQuotes: boolean): string {
    switch (tok.kind) {
      case 'value':
      case 'field':
        return tok.text;
      case 'quoted':
        return this.unquote(tok, allowAltQuotes);
      case 'illegal':
        throw this.error(tok.pos, tok.text);
      default:
        throw this.error(tok.pos, 'expected value or quoted');
    }
  }

  private unquote(tok: Token, allowAltQuotes: boolean): string {
    if (!allowAltQuotes && !tok.text.startsWith('"')) {
      throw this.error(tok.pos, 'invalid quote encountered');
    }
    try {
      return unquote(tok.text);
    } catch (err) {
      if (err instanceof QuoteSyntaxError) {
        throw this.error(tok.pos, `unquoting failed: ${err.message}`);
      }
      throw err;
    }
  }

  private error(pos: number, reason: string): FilterParseError {
    return new FilterParseError(this.input, pos, reason);
  }
}

/**
 * Parses one filter string (selectors joined by `,`, all of which must match).
 * The empty string matches everything. Throws FilterParseError.
 */
export function parseFilter(input: string): Filter {
  if (input === '') return always;
  return new Parser(input).parse();
}

/**
 * Parses a list of filter strings; the result matches when any of them does.
 * An empty list matches everything. Throws an InvalidArgument BerthError that
 * names the position of the problem.
 */
export function parseFilters(inputs: readonly string[]): Filter {
  if (inputs.length === 0) return always;
  const filters = inputs.map((s) => {
    try {
      return parseFilter(s);
    } catch (err) {
      if (err instanceof FilterParseError) throw errInvalidArgument(err.message, { cause: err });
      throw err;
    }
  });
  return filters.length === 1 ? filters[0]! : new AnyOf(filters);
}
