import { describe, expect, it } from 'vitest';
import { BerthError, errNotFound, fromStatus, StatusCode, toStatus } from './catalogue.js';
import { validateIdentifier } from '../identifiers.js';

describe('error catalogue', () => {
  it('maps codes to gRPC status numbers and back', () => {
    const e = errNotFound('namespace "x"');
    expect(e.message).toBe('namespace "x": not found');
    expect(toStatus(e)).toEqual({ code: StatusCode.NOT_FOUND, message: e.message });
    const back = fromStatus(StatusCode.NOT_FOUND, e.message);
    expect(back).toBeInstanceOf(BerthError);
    expect(back.code).toBe('NotFound');
    expect(fromStatus(StatusCode.UNIMPLEMENTED, 'x').code).toBe('NotImplemented');
    expect(fromStatus(99, 'x').code).toBe('Unknown');
  });

  it('maps plain errors to UNKNOWN', () => {
    expect(toStatus(new Error('boom')).code).toBe(StatusCode.UNKNOWN);
  });
});

describe('identifiers', () => {
  it.each(['a', 'abc-1', 'x.y_z', 'A9'])('accepts %s', (id) => {
    expect(() => validateIdentifier(id)).not.toThrow();
  });
  it.each(['', '-a', 'a-', 'a..b', '../etc', 'a/b', 'a b', 'x'.repeat(77), 'é'])(
    'rejects %j',
    (id) => {
      expect(() => validateIdentifier(id)).toThrow(/invalid argument/);
    },
  );
});
