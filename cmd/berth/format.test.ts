import { InvalidArgumentError } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UsageError } from './exit-codes.js';
import { type FormatFlags, chosenFormat, parseFormat, printList } from './format.js';

const items = [
  { id: 'a', n: 1 },
  { id: 'b', n: 22 },
];
const view = {
  fields: (i: { id: string; n: number }) => ({ ID: i.id, N: i.n }),
  id: (i: { id: string }) => i.id,
  table: (list: { id: string; n: number }[]) => `TABLE ${list.map((i) => i.id).join(' ')}\n`,
};

async function output(flags: FormatFlags): Promise<string> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  try {
    await printList(flags, items, view);
  } finally {
    vi.restoreAllMocks();
  }
  return out;
}

describe('--format', () => {
  afterEach(() => vi.restoreAllMocks());

  it('parses table, json and templates, and refuses anything else', () => {
    expect(parseFormat('table')).toEqual({ kind: 'table' });
    expect(parseFormat('json')).toEqual({ kind: 'json' });
    expect(parseFormat('{{.ID}}').kind).toBe('template');
    expect(() => parseFormat('yaml')).toThrow(InvalidArgumentError);
    expect(() => parseFormat('{{.ID')).toThrow(/template: unclosed action/);
    expect(() => parseFormat('{{.ID')).toThrow(InvalidArgumentError);
  });

  it('defaults to the table; --json is --format json', () => {
    expect(chosenFormat({})).toEqual({ kind: 'table' });
    expect(chosenFormat({ json: true })).toEqual({ kind: 'json' });
    expect(chosenFormat({ json: true, format: parseFormat('table') })).toEqual({ kind: 'table' });
  });

  it('prints the table, ids with -q, a JSON array, or one template line per item', async () => {
    expect(await output({})).toBe('TABLE a b\n');
    expect(await output({ quiet: true })).toBe('a\nb\n');
    expect(JSON.parse(await output({ format: parseFormat('json') }))).toEqual([
      { ID: 'a', N: 1 },
      { ID: 'b', N: 22 },
    ]);
    expect(await output({ format: parseFormat('{{.ID}}={{.N}}') })).toBe('a=1\nb=22\n');
    // A template wins over -q: it already says what to print.
    expect(await output({ quiet: true, format: parseFormat('{{.N}}') })).toBe('1\n22\n');
  });

  it('reports a field the items lack as a usage error', async () => {
    await expect(output({ format: parseFormat('{{.Nope}}') })).rejects.toThrow(UsageError);
    await expect(output({ format: parseFormat('{{.Nope}}') })).rejects.toThrow(/no field "Nope"/);
  });
});
