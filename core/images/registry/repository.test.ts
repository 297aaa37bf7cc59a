import { describe, expect, it } from 'vitest';
import { describeErrorBody } from './repository.js';

describe('describeErrorBody', () => {
  it('reads distribution error bodies', () => {
    expect(
      describeErrorBody(
        JSON.stringify({
          errors: [
            { code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { Tag: 'x' } },
            { code: 'DENIED' },
          ],
        }),
      ),
    ).toBe('MANIFEST_UNKNOWN: manifest unknown; DENIED');
  });

  it('keeps short plain text and drops HTML or long bodies', () => {
    expect(describeErrorBody(' upstream timed out \n')).toBe('upstream timed out');
    expect(describeErrorBody('<html><body>502</body></html>')).toBe('');
    expect(describeErrorBody('x'.repeat(500))).toBe('');
  });
});
