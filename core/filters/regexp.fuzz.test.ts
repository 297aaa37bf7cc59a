import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectClearError, fuzz, thrown } from '../../api/fuzz.js';
import { RegexpSyntaxError, compileGoRegexp } from './regexp.js';

const atom = fc.constantFrom(
  'a',
  '.',
  '^',
  '$',
  '\\d',
  '\\s',
  '\\pL',
  '\\p{Greek}',
  '\\PL',
  '\\x41',
  '\\x{10FFFF}',
  '\\101',
  '\\Q*\\E',
  '\\A',
  '\\z',
  '\\b',
  '[a-z]',
  '[^\\n]',
  '[[:alpha:]]',
  '[]a]',
  '[a-]',
  '(',
  ')',
  '(?:',
  '(?P<n>',
  '(?<n>',
  '(?i)',
  '(?s)',
  '(?m)',
  '(?U)',
  '(?=',
  '(?!',
  '\\1',
  '|',
  '*',
  '+',
  '?',
  '*?',
  '\\p{',
  '\\x{',
  '{',
  '}',
  '{2}',
  '{2,}',
  '{1,3}',
  '{1001}',
  '{3,1}',
  '[',
  ']',
  '\\',
  'é',
  '😀',
);
const pattern = fc.array(atom, { maxLength: 20 }).map((as) => as.join(''));

/** Structures repeated far past any real pattern: deep nesting, long runs, long names. */
const long = fc
  .tuple(
    fc.oneof(fc.constant(''), atom),
    fc.oneof(atom, pattern),
    fc.oneof(fc.integer({ min: 1, max: 2000 }), fc.constant(200_000)),
    fc.oneof(fc.constant(''), atom),
  )
  .map(([before, s, n, after]) => before + s.repeat(Math.ceil(n / Math.max(1, s.length))) + after);

describe('Go regexp translation (fuzz)', () => {
  it('compiles or refuses with RegexpSyntaxError, whatever the pattern', async () => {
    await fuzz(
      'regexp hostile',
      fc.property(
        fc.oneof(
          { arbitrary: pattern, weight: 4 },
          { arbitrary: long, weight: 1 },
          { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 1 },
        ),
        (p) => {
          let re: RegExp | undefined;
          const err = thrown(() => (re = compileGoRegexp(p)));
          if (err !== undefined) return expectClearError(err, RegexpSyntaxError);
          // What compiled also matches without throwing.
          re!.test(p);
          re!.test('');
        },
      ),
    );
  });

  it('matches literal text exactly as written, special characters escaped', async () => {
    await fuzz(
      'regexp literal',
      fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), (s) => {
        // Go's QuoteMeta: a backslash before each ASCII punctuation character.
        const quoted = s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
        const re = compileGoRegexp(`^${quoted}$`);
        expect(re.test(s)).toBe(true);
        expect(re.test(`${s}x`)).toBe(false);
      }),
    );
  });
});
