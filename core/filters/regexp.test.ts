import { describe, expect, it } from 'vitest';
import { RegexpSyntaxError, compileGoRegexp } from './regexp.js';

/** Whether Go's regexp.MatchString(pattern, s) would be true. */
const m = (pattern: string, s: string) => compileGoRegexp(pattern).test(s);

describe('Go regexp translation', () => {
  it('searches unanchored and handles the empty pattern', () => {
    expect(m('ell', 'hello')).toBe(true);
    expect(m('', 'anything')).toBe(true);
    expect(m('^ell', 'hello')).toBe(false);
  });

  it('lets . match \\r but not \\n, and everything under (?s)', () => {
    expect(m('^a.b$', 'a\rb')).toBe(true);
    expect(m('^a.b$', 'a\u2028b')).toBe(true);
    expect(m('^a.b$', 'a\nb')).toBe(false);
    expect(m('(?s)^a.b$', 'a\nb')).toBe(true);
  });

  it('matches whole code points', () => {
    expect(m('^.$', '😀')).toBe(true);
    expect(m('^\\x{1F600}$', '😀')).toBe(true);
  });

  it('only breaks lines at \\n under (?m)', () => {
    expect(m('(?m)^b$', 'a\nb\nc')).toBe(true);
    expect(m('(?m)^b$', 'a\rb')).toBe(false);
    expect(m('^b$', 'a\nb')).toBe(false);
  });

  it('supports \\A and \\z', () => {
    expect(m('\\Aab\\z', 'ab')).toBe(true);
    expect(m('\\Aab\\z', 'ab\n')).toBe(false);
    expect(m('(?m)\\Ab$', 'a\nb')).toBe(false);
  });

  it("uses Go's \\s: no vertical tab and no Unicode spaces", () => {
    expect(m('^\\s$', '\t')).toBe(true);
    expect(m('^\\s$', '\v')).toBe(false);
    expect(m('^\\s$', '\u00a0')).toBe(false);
    expect(m('^\\S$', '\v')).toBe(true);
    expect(m('^[\\S]$', '\v')).toBe(true);
    expect(m('^[\\S]$', ' ')).toBe(false);
    expect(m('^[x\\s]+$', 'x \t')).toBe(true);
  });

  it('treats braces that are not repeats as literals', () => {
    expect(m('^a{,2}$', 'a{,2}')).toBe(true);
    expect(m('^a{2}$', 'aa')).toBe(true);
    expect(m('^a{1,}$', 'aaa')).toBe(true);
    expect(m('^a}$', 'a}')).toBe(true);
    expect(m('^{$', '{')).toBe(true);
  });

  it('limits repeat counts like RE2', () => {
    expect(() => compileGoRegexp('a{1001}')).toThrow(RegexpSyntaxError);
    expect(() => compileGoRegexp('a{3,2}')).toThrow(/invalid repeat count/);
    expect(m('^a{1000}$', 'a'.repeat(1000))).toBe(true);
  });

  it('follows Go character class rules', () => {
    expect(m('^[]a]+$', ']a')).toBe(true);
    expect(m('^[^]a]$', 'b')).toBe(true);
    expect(m('^[^]a]$', ']')).toBe(false);
    expect(m('^[a-c-e]+$', 'b-e')).toBe(true);
    expect(m('^[a-c-e]$', 'd')).toBe(false);
    expect(m('^[\\d-z]+$', '5-z')).toBe(true);
    expect(m('^[a-]$', '-')).toBe(true);
    expect(m('^[[]$', '[')).toBe(true);
    expect(() => compileGoRegexp('[z-a]')).toThrow(/invalid character class range/);
    expect(() => compileGoRegexp('[abc')).toThrow(/missing closing \]/);
  });

  it('supports POSIX classes, plain and negated', () => {
    expect(m('^[[:alpha:]]+$', 'abcXYZ')).toBe(true);
    expect(m('^[[:alpha:]]+$', 'ab1')).toBe(false);
    expect(m('^[[:^digit:]]+$', 'ab')).toBe(true);
    expect(m('^[[:^digit:]]+$', 'a1')).toBe(false);
    expect(m('^[[:xdigit:][:space:]]+$', 'ff 0A')).toBe(true);
    expect(() => compileGoRegexp('[[:nope:]]')).toThrow(/invalid character class range/);
  });

  it('supports Unicode classes and scripts', () => {
    expect(m('^\\pL+$', 'héllo')).toBe(true);
    expect(m('^\\PL$', '1')).toBe(true);
    expect(m('^\\p{Greek}+$', 'αβγ')).toBe(true);
    expect(m('^\\p{Greek}$', 'a')).toBe(false);
    expect(m('^\\p{^Greek}$', 'a')).toBe(true);
    expect(m('^[\\p{Lu}0-9]+$', 'AB12')).toBe(true);
    expect(() => compileGoRegexp('\\p{Klingon}')).toThrow(RegexpSyntaxError);
  });

  it('escapes any ASCII punctuation and supports Go character escapes', () => {
    expect(m('^\\#\\-\\_\\:\\"\\ $', '#-_:" ')).toBe(true);
    expect(m('^[\\-\\]]+$', '-]')).toBe(true);
    expect(m('^\\x41\\101\\012\\a$', 'AA\n\x07')).toBe(true);
    expect(m('^\\0$', '\0')).toBe(true);
    expect(m('^\\Q.*+\\E$', '.*+')).toBe(true);
    expect(m('^\\Q.*+\\E$', 'abc')).toBe(false);
  });

  it('supports named groups in both spellings', () => {
    expect(compileGoRegexp('(?P<id>[0-9]+)').exec('ab12')?.groups?.id).toBe('12');
    expect(compileGoRegexp('(?<id>[0-9]+)').exec('ab12')?.groups?.id).toBe('12');
  });

  it('applies leading flags and rejects inline flags elsewhere', () => {
    expect(m('(?i)^abc$', 'ABC')).toBe(true);
    expect(m('(?i)(?s)^a.c$', 'A\nC')).toBe(true);
    expect(m('(?is)^a.c$', 'A\nC')).toBe(true);
    expect(m('(?i-s)^a.c$', 'A\nC')).toBe(false);
    expect(() => compileGoRegexp('a(?i)b')).toThrow(/only supported at the start/);
    expect(() => compileGoRegexp('(?i:b)')).toThrow(/only supported at the start/);
    expect(() => compileGoRegexp('(?U)a+')).toThrow(/ungreedy/);
  });

  it('handles patterns far longer than the call stack allows as arguments', () => {
    // Found by fuzzing: the rest of the pattern was rebuilt with a spread of
    // its code points, a RangeError past ~120k characters (and quadratic).
    expect(m(`${'a|'.repeat(100_000)}b`, 'b')).toBe(true);
    expect(() => compileGoRegexp('('.repeat(200_000))).toThrow(RegexpSyntaxError);
    // The same spread built error messages and escape names.
    const filler = 'a'.repeat(200_000);
    expect(() => compileGoRegexp(`[${filler}`)).toThrow(RegexpSyntaxError);
    expect(() => compileGoRegexp(`\\p{${filler}}`)).toThrow(RegexpSyntaxError);
    expect(() => compileGoRegexp(`\\x{${filler}}`)).toThrow(RegexpSyntaxError);
  });

  it('refuses a pattern too large to compile when parsing, not when matching', () => {
    // Found by fuzzing: V8 compiles on first use, so test() threw SyntaxError.
    expect(() => compileGoRegexp('a'.repeat(200_000))).toThrow(RegexpSyntaxError);
    // Small enough for one-byte subjects, too large once compiled for two-byte ones.
    expect(() => compileGoRegexp('😀'.repeat(30_000))).toThrow(RegexpSyntaxError);
  });

  it('rejects what RE2 rejects', () => {
    for (const bad of [
      '(?=a)',
      '(?!a)',
      '(?<=a)',
      '(?<!a)',
      '(a)\\1',
      '\\C',
      '\\Z',
      'a**',
      '(a',
      'a)',
      '\\',
    ]) {
      expect(() => compileGoRegexp(bad), bad).toThrow(RegexpSyntaxError);
    }
  });
});
