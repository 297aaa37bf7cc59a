import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_GO_DURATION_MS, parseGoDuration } from './duration.js';
import { BerthError } from './errors/catalogue.js';
import { expectClearError, fuzz, thrown, trickyString } from '../api/fuzz.js';

const units = ['h', 'm', 's', 'ms', 'us', 'µs', 'ns'] as const;
const UNIT_MS = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, µs: 1e-3, ns: 1e-6 };

const part = fc.record({
  n: fc.nat({ max: 10_000 }),
  unit: fc.constantFrom(...units),
});

/** Duration-shaped text: numbers (some very long), units, and noise. */
const token = fc.oneof(
  fc.constantFrom(...units, '.', '-', '+', '0', ' ', 'µ', 'hh', 'mss'),
  fc.integer({ min: 1, max: 400 }).map((n) => '9'.repeat(n)),
  fc.nat().map(String),
  trickyString,
);
const hostile = fc.array(token, { maxLength: 10 }).map((ts) => ts.join(''));

describe('parseGoDuration (fuzz)', () => {
  it('adds up what a Go duration string says', async () => {
    await fuzz(
      'duration round trip',
      fc.property(fc.array(part, { minLength: 1, maxLength: 5 }), (parts) => {
        const text = parts.map((p) => `${p.n}${p.unit}`).join('');
        const want = parts.reduce((ms, p) => ms + p.n * UNIT_MS[p.unit], 0);
        expect(parseGoDuration(text, 'd')).toBeCloseTo(want, 6);
      }),
    );
  });

  it('returns a duration Go could hold, or refuses with InvalidArgument', async () => {
    await fuzz(
      'duration hostile',
      fc.property(hostile, (text) => {
        let ms = 0;
        const err = thrown(() => (ms = parseGoDuration(text, 'd')));
        if (err !== undefined) {
          expectClearError(err, BerthError);
          expect((err as BerthError).code).toBe('InvalidArgument');
          return;
        }
        expect(ms).toBeGreaterThanOrEqual(0);
        expect(ms).toBeLessThanOrEqual(MAX_GO_DURATION_MS);
      }),
    );
  });
});
