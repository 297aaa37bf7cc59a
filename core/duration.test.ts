import { describe, expect, it } from 'vitest';
import { parseGoDuration } from './duration.js';
import { isBerthError } from './errors/catalogue.js';

describe('parseGoDuration', () => {
  it('adds up units like Go', () => {
    expect(parseGoDuration('1h30m', 'd')).toBe(5_400_000);
    expect(parseGoDuration('1.5s', 'd')).toBe(1500);
    expect(parseGoDuration('0', 'd')).toBe(0);
  });

  it("refuses durations past Go's int64 nanoseconds", () => {
    // Found by fuzzing: these parsed to huge or infinite timer delays.
    expect(parseGoDuration('2562047h', 'd')).toBe(2562047 * 3_600_000);
    for (const text of ['9999999h', `${'9'.repeat(400)}s`]) {
      let err: unknown;
      try {
        parseGoDuration(text, 'd');
      } catch (e) {
        err = e;
      }
      expect(isBerthError(err, 'InvalidArgument')).toBe(true);
      expect((err as Error).message).toMatch(/too long/);
    }
  });
});
