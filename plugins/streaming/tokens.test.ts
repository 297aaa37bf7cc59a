import { describe, expect, it } from 'vitest';
import { isBerthError } from '../../core/errors/catalogue.js';
import { TokenCache } from './tokens.js';

describe('TokenCache', () => {
  it('hands out URL-safe tokens that work once', () => {
    const c = new TokenCache<string>(1000, 10);
    const t = c.insert('a');
    expect(t).toMatch(/^[A-Za-z0-9_-]{11}$/);
    expect(c.consume(t)).toBe('a');
    expect(c.consume(t)).toBeUndefined();
  });

  it('expires tokens after the TTL', () => {
    let now = 0;
    const c = new TokenCache<string>(100, 10, () => now);
    const t = c.insert('a');
    now = 100;
    expect(c.consume(t)).toBeUndefined();
  });

  it('limits outstanding tokens, counting only live ones', () => {
    let now = 0;
    const c = new TokenCache<number>(100, 2, () => now);
    c.insert(1);
    c.insert(2);
    let err: unknown;
    try {
      c.insert(3);
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'ResourceExhausted')).toBe(true);
    now = 200;
    expect(() => c.insert(3)).not.toThrow();
    expect(c.size).toBe(1);
  });
});
