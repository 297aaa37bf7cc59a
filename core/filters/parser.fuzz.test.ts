import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BerthError } from '../errors/catalogue.js';
import { expectClearError, fuzz, thrown, trickyString } from '../../api/fuzz.js';
import { All, Selector, type Operator } from './filter.js';
import { FilterParseError, parseFilter, parseFilters } from './parser.js';

// Well-formed text: JSON.stringify (which Selector.toString uses) writes a lone
// surrogate as an escape that Go, and so we, decode to U+FFFD.
const text = fc.string({ unit: 'grapheme', maxLength: 12 });
const field = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/), text);

const selector = fc.oneof(
  fc
    .tuple(
      fc.array(field, { minLength: 1, maxLength: 3 }),
      fc.constantFrom<Operator>('==', '!='),
      text,
    )
    .map(([path, op, value]) => new Selector(path, op, value)),
  fc.array(field, { minLength: 1, maxLength: 3 }).map((path) => new Selector(path, 'present')),
  fc
    .tuple(
      fc.array(field, { minLength: 1, maxLength: 2 }),
      fc.constantFrom('^web-[0-9]+$', 'a|b', '(?i)abc', '[[:alpha:]]+', 'x{2,3}', '\\pL'),
    )
    .map(([path, re]) => new Selector(path, '~=', re)),
);

/** Pieces of the filter language, glued at random. */
const token = fc.oneof(
  fc.constantFrom('labels', 'id', '.', ',', '==', '!=', '~=', '===', '!', '~', ' ', '\t'),
  fc.constantFrom('"', '/', '|', '\\', '\\x', '\\u12', '\\U0010ffff', '\\777', '\\n', "'"),
  fc.constantFrom('(', ')', '[', ']', '{', '}', '*', '+', '?', '(?P<n>', '(?=', '\\Q', '\\E'),
  trickyString,
);
const soup = fc.array(token, { maxLength: 24 }).map((ts) => ts.join(''));

/** Long inputs: a short piece repeated up to far past any real filter. */
const long = fc
  .tuple(fc.oneof(token, soup), fc.oneof(fc.integer({ min: 1, max: 2000 }), fc.constant(200_000)))
  .map(([s, n]) => s.repeat(Math.ceil(n / Math.max(1, s.length))));

const view = (s: Selector) => ({ path: s.fieldpath, op: s.operator, value: s.value });

describe('filter parser (fuzz)', () => {
  it('parses what Selector.toString printed back to the same selectors', async () => {
    await fuzz(
      'filter round trip',
      fc.property(fc.array(selector, { minLength: 1, maxLength: 4 }), (sels) => {
        const parsed = parseFilter(sels.map(String).join(','));
        expect(parsed).toBeInstanceOf(All);
        expect((parsed as All).filters.map((f) => view(f as Selector))).toEqual(sels.map(view));
      }),
    );
  });

  it('refuses hostile input only with FilterParseError, and parseFilters with InvalidArgument', async () => {
    await fuzz(
      'filter hostile',
      fc.property(fc.oneof(soup, trickyString, long), (input) => {
        const err = thrown(() => parseFilter(input));
        if (err === undefined) return;
        expectClearError(err, FilterParseError);
        const wrapped = thrown(() => parseFilters([input]));
        expectClearError(wrapped, BerthError);
        expect((wrapped as BerthError).code).toBe('InvalidArgument');
      }),
    );
  });
});
