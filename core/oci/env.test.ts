import { describe, expect, it } from 'vitest';
import { mergeEnv } from './env.js';

describe('mergeEnv', () => {
  it('replaces by key in place and appends new keys', () => {
    expect(mergeEnv(['PATH=/bin', 'A=1', 'B=2'], ['A=x', 'C=3'])).toEqual([
      'PATH=/bin',
      'A=x',
      'B=2',
      'C=3',
    ]);
  });

  it('lets the later override win', () => {
    expect(mergeEnv(['A=1'], ['A=2', 'A=3'])).toEqual(['A=3']);
    expect(mergeEnv([], ['B=1', 'B=2'])).toEqual(['B=2']);
  });

  it('keeps "=" inside values and handles empty values', () => {
    expect(mergeEnv(['OPTS=a=b'], ['OPTS=c=d=e', 'EMPTY='])).toEqual(['OPTS=c=d=e', 'EMPTY=']);
  });

  it('unsets keys given without "="', () => {
    expect(mergeEnv(['A=1', 'B=2', 'C=3'], ['B'])).toEqual(['A=1', 'C=3']);
    expect(mergeEnv(['A=1'], ['MISSING'])).toEqual(['A=1']);
    // Unset then set again appends a fresh entry.
    expect(mergeEnv(['A=1', 'B=2'], ['A', 'A=9'])).toEqual(['B=2', 'A=9']);
  });

  it('does not modify its inputs', () => {
    const base = ['A=1'];
    mergeEnv(base, ['A=2']);
    expect(base).toEqual(['A=1']);
  });
});
