import { describe, expect, it } from 'vitest';
import {
  RetryableError,
  backoffDelay,
  isRetryableStatus,
  isTransient,
  withRetries,
} from './backoff.js';
import { Limiter } from './limiter.js';

describe('backoff', () => {
  it('doubles the delay up to the cap', () => {
    const o = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, o))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });

  it('retries transient failures and gives up after the attempts', async () => {
    let calls = 0;
    const started = Date.now();
    const err = await withRetries(
      async () => {
        calls++;
        throw new RetryableError('503');
      },
      { attempts: 3, baseDelayMs: 20, jitter: 0 },
    ).catch((e: Error) => e);
    expect(calls).toBe(3);
    expect((err as Error).message).toBe('503');
    expect(Date.now() - started).toBeGreaterThanOrEqual(55); // 20 + 40
  });

  it('returns the first success and does not retry permanent errors', async () => {
    let calls = 0;
    expect(
      await withRetries(
        async (n) => {
          calls++;
          if (n < 2) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' });
          return 'ok';
        },
        { baseDelayMs: 1 },
      ),
    ).toBe('ok');
    expect(calls).toBe(2);
    calls = 0;
    await expect(
      withRetries(
        async () => {
          calls++;
          throw new Error('bad request');
        },
        { baseDelayMs: 1 },
      ),
    ).rejects.toThrow('bad request');
    expect(calls).toBe(1);
  });

  it('stops waiting when aborted', async () => {
    const ac = new AbortController();
    const p = withRetries(
      async () => {
        throw new RetryableError('x');
      },
      { baseDelayMs: 10_000, signal: ac.signal },
    );
    setTimeout(() => ac.abort(new Error('stop')), 10);
    await expect(p).rejects.toThrow('stop');
  });

  it('classifies statuses and errors', () => {
    expect([500, 502, 503, 429, 408].every(isRetryableStatus)).toBe(true);
    expect([200, 400, 401, 404].some(isRetryableStatus)).toBe(false);
    expect(isTransient(Object.assign(new Error(), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isTransient(new Error('x'))).toBe(false);
  });
});

describe('Limiter', () => {
  it('runs at most `limit` tasks at once', async () => {
    const l = new Limiter(3);
    let active = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 10 }, () =>
        l.run(async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 5));
          active--;
        }),
      ),
    );
    expect(peak).toBe(3);
  });

  it('frees the slot when a task fails', async () => {
    const l = new Limiter(1);
    await expect(l.run(async () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(await l.run(async () => 7)).toBe(7);
  });
});
