import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/catalogue.js';
import { lookupLabel, type Adaptor } from './filter.js';
import { FilterParseError, parseFilter, parseFilters } from './parser.js';

interface Item {
  name: string;
  note?: string;
  labels?: Record<string, string>;
}

const items: Item[] = [
  { name: 'alpha', labels: { tier: 'web' } },
  { name: 'beta' },
  { name: 'alpha', labels: { tier: 'db', 'team name': 'core' } },
  { name: 'beta', labels: { owner: 'yes' } },
  { name: 'gamma', labels: { 'odd \\ and " key': 'x' } },
  { name: 'gamma', labels: { 'com.example.app': 'shop' } },
  { name: 'delta', note: 'has, a comma' },
  { name: 'epsilon', note: 'abc' },
  { name: 'zeta', labels: { tier: 'web_1.2-x' } },
];

function adapt(item: Item): Adaptor {
  return (path) => {
    switch (path[0]) {
      case 'name':
        return { value: item.name, present: item.name.length > 0 };
      case 'note':
        return { value: item.note ?? '', present: !!item.note };
      case 'labels':
        return lookupLabel(item.labels, path.slice(1));
    }
    return { value: '', present: false };
  };
}

/** Indexes of the items a filter list selects. */
function select(...filters: string[]): number[] {
  const f = parseFilters(filters);
  return items.flatMap((item, i) => (f.match(adapt(item)) ? [i] : []));
}

const all = items.map((_, i) => i);

describe('filter matching', () => {
  it('matches everything for an empty list or an empty string', () => {
    expect(select()).toEqual(all);
    expect(select('')).toEqual(all);
  });

  it('tests presence for a bare field path', () => {
    expect(select('name')).toEqual(all);
    expect(select('labels.tier')).toEqual([0, 2, 8]);
    expect(select('note')).toEqual([6, 7]);
    expect(select('missing')).toEqual([]);
  });

  it('compares with == and !=', () => {
    expect(select('name==beta')).toEqual([1, 3]);
    expect(select('labels.tier==web')).toEqual([0]);
    expect(select('name!=beta')).toEqual([0, 2, 4, 5, 6, 7, 8]);
  });

  it('treats an absent field as the empty string for != and ~=', () => {
    expect(select('note!=abc')).toEqual([0, 1, 2, 3, 4, 5, 6, 8]);
    expect(select('note!=""')).toEqual([6, 7]);
    expect(select('note==""')).toEqual([]);
    expect(select('note~=^$')).toEqual([0, 1, 2, 3, 4, 5, 8]);
  });

  it('ANDs selectors joined by commas', () => {
    expect(select('name==beta,labels.owner')).toEqual([3]);
    expect(select('labels.tier,name==alpha')).toEqual([0, 2]);
    expect(select('name==beta,labels.owner==no')).toEqual([]);
  });

  it('ORs separate filter strings', () => {
    expect(select('name==beta', 'labels.tier==db')).toEqual([1, 2, 3]);
    expect(select('name==nothing', 'name==zeta')).toEqual([8]);
    // An empty string in the list matches everything, as in containerd.
    expect(select('name==zeta', '')).toEqual(all);
  });

  it('accepts punctuation in bare values', () => {
    expect(select('labels.tier==web_1.2-x')).toEqual([8]);
  });

  it('accepts quoted values with Go escapes', () => {
    expect(select('note=="has, a comma"')).toEqual([6]);
    expect(select('name=="\\x61lpha"')).toEqual([0, 2]);
    expect(select('name=="\\u0062eta"')).toEqual([1, 3]);
    expect(select('name=="\\147amma"')).toEqual([4, 5]);
  });

  it('accepts quoted field path components', () => {
    expect(select('name==alpha,labels."team name"')).toEqual([2]);
    expect(select('labels."odd \\\\ and \\" key"==x')).toEqual([4]);
    expect(select('labels."com.example.app"==shop')).toEqual([5]);
    // The rest of a labels path is joined with '.', so these are the same label.
    expect(select('labels.com.example.app==shop')).toEqual([5]);
  });

  it('allows spaces around operators and values', () => {
    expect(select('name == beta')).toEqual([1, 3]);
    expect(select('  name==beta,labels.owner')).toEqual([3]);
  });

  it('matches regular expressions, bare or quoted with /, | or "', () => {
    expect(select('note~=[abc]+,name!=alpha')).toEqual([6, 7]);
    expect(select('note~=/[abc]+/,name!=alpha')).toEqual([6, 7]);
    expect(select('note~=/[abc]{1,2}/')).toEqual([6, 7]);
    expect(select('note~=|^ab|')).toEqual([7]);
    expect(select('name~="^(alpha|zeta)$"')).toEqual([0, 2, 8]);
    expect(select('name~=/^.e/')).toEqual([1, 3, 6, 8]);
    // Inside /…/ only Go string escapes are legal, so \\ spells a backslash.
    expect(select('labels.tier~=/_\\\\d/')).toEqual([8]);
    expect(select('name~=/a\\/b/')).toEqual([]);
  });

  it('searches unanchored, like Go MatchString', () => {
    expect(select('name~=mm')).toEqual([4, 5]);
  });

  it('supports case-insensitive regexps through a leading (?i)', () => {
    expect(select('name~="(?i)^ALPHA$"')).toEqual([0, 2]);
  });
});

/** Asserts the exact containerd-style error text. */
function parseError(input: string): string {
  try {
    parseFilter(input);
  } catch (err) {
    expect(err).toBeInstanceOf(FilterParseError);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(input)} to fail`);
}

describe('filter syntax errors', () => {
  it.each([
    ['name==foo,', 'filters: parse error: [name==foo,]: expected field or quoted'],
    ['labels.', 'filters: parse error: [labels.]: expected field or quoted'],
    ['labels.?"x"==y', 'filters: parse error: [labels. >|?|< "x"==y]: expected field or quoted'],
    ['image~=,id==x', 'filters: parse error: [image~= >|,|< id==x]: expected value or quoted'],
    [
      'labels.ns/key==value',
      'filters: parse error: [labels.ns >|/|< key==value]: quoted literal not terminated',
    ],
    [
      'labels.key==/value',
      'filters: parse error: [labels.key== >|/|< value]: quoted literal not terminated',
    ],
    [
      'labels.|foo|==bar',
      'filters: parse error: [labels. >|||< foo|==bar]: invalid quote encountered',
    ],
    // A value starting with / is a /-quoted literal, valid only for ~=.
    [
      'topic==/tasks/exit',
      'filters: parse error: [topic== >|/|< tasks/exit]: invalid quote encountered',
    ],
    ['name===x', 'filters: parse error: [name >|=|< ==x]: unsupported operator "==="'],
    ['name=~x', 'filters: parse error: [name >|=|< ~x]: unsupported operator "=~"'],
    ['name==', 'filters: parse error: [name==]: expected value or quoted'],
    ['name x', 'filters: parse error: [name  >|x|< ]: expected an operator ("=="|"!="|"~=")'],
    ['name==a b', 'filters: parse error: [name==a >| |< b]: unexpected input:  '],
    ['name=="a"b', 'filters: parse error: [name=="a" >|b|< ]: unexpected input: b'],
    ['name=="\\q"', 'filters: parse error: [name== >|"|< \\q"]: illegal escape sequence'],
    ['name=="\\x4"', 'filters: parse error: [name== >|"|< \\x4"]: illegal numeric escape sequence'],
    [
      'name=="\\777"',
      'filters: parse error: [name== >|"|< \\777"]: unquoting failed: octal escape value > 255',
    ],
    ['name=="abc', 'filters: parse error: [name== >|"|< abc]: quoted literal not terminated'],
    ['name==a\u0000', 'filters: parse error: [name==a >|\u0000|< ]: unexpected null'],
    ["labels.'x'", "filters: parse error: [labels. >|'|< x']: expected field or quoted"],
  ])('%s', (input, message) => {
    expect(parseError(input)).toBe(message);
  });

  it('rejects invalid regular expressions at parse time, naming the value', () => {
    expect(parseError('name~="a(b"')).toMatch(
      /^filters: parse error: \[name~= >\|"\|< a\(b"\]: invalid regular expression "a\(b": /,
    );
    expect(parseError('name~=(?=x)')).toMatch(/invalid or unsupported Perl syntax/);
  });

  it('treats single quotes as ordinary value characters, as containerd does', () => {
    const f = parseFilter("name=='x'");
    expect(f.match(() => ({ value: "'x'", present: true }))).toBe(true);
    expect(f.match(() => ({ value: 'x', present: true }))).toBe(false);
  });

  it('wraps errors from parseFilters as InvalidArgument', () => {
    let caught: unknown;
    try {
      parseFilters(['name==ok', 'name==']);
    } catch (err) {
      caught = err;
    }
    expect(isBerthError(caught, 'InvalidArgument')).toBe(true);
    expect((caught as Error).message).toBe(
      'filters: parse error: [name==]: expected value or quoted: invalid argument',
    );
  });
});
