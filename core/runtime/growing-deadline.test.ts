import { describe, expect, it } from 'vitest';
import { errDeadlineExceeded, errUnavailable } from '../errors/catalogue.js';
import { SHIM_CALL_ATTEMPTS, withGrowingDeadline } from './growing-deadline.js';

describe('withGrowingDeadline', () => {
  it('doubles the limit after each missed deadline until the call answers', async () => {
    const limits: number[] = [];
    const missed: number[] = [];
    const r = await withGrowingDeadline(
      100,
      async (ms) => {
        limits.push(ms);
        if (limits.length < 3) throw errDeadlineExceeded('slow');
        return 'answered';
      },
      (ms) => missed.push(ms),
    );
    expect(r).toBe('answered');
    expect(limits).toEqual([100, 200, 400]);
    expect(missed).toEqual([100, 200]);
  });

  it('gives up after the last attempt with the deadline error', async () => {
    let calls = 0;
    const p = withGrowingDeadline(10, async () => {
      calls++;
      throw errDeadlineExceeded('never answers');
    });
    await expect(p).rejects.toMatchObject({ code: 'DeadlineExceeded' });
    expect(calls).toBe(SHIM_CALL_ATTEMPTS);
  });

  it('does not retry other errors: a refused connection means the shim is gone', async () => {
    let calls = 0;
    const p = withGrowingDeadline(10, async () => {
      calls++;
      throw errUnavailable('connection refused');
    });
    await expect(p).rejects.toMatchObject({ code: 'Unavailable' });
    expect(calls).toBe(1);
  });
});
