import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/catalogue.js';
import { compactLabels, MAX_LABEL_SIZE, validateLabel, validateLabels } from './labels.js';

describe('labels', () => {
  it('accepts key plus value up to 4096 bytes, counting UTF-8 bytes', () => {
    expect(() => validateLabel('k', 'v'.repeat(MAX_LABEL_SIZE - 1))).not.toThrow();
    expect(() => validateLabel('k', 'v'.repeat(MAX_LABEL_SIZE))).toThrow(
      'label key and value length (4097 bytes) greater than maximum size (4096 bytes), key: k: invalid argument',
    );
    // 'é' is two bytes: 2048 of them plus the key exceed the limit though only 2049 characters.
    const err = (() => {
      try {
        validateLabel('k', 'é'.repeat(2048));
      } catch (e) {
        return e;
      }
    })();
    expect(isBerthError(err, 'InvalidArgument')).toBe(true);
  });

  it('rejects empty keys and non-string values, naming the field', () => {
    expect(() => validateLabel('', 'x')).toThrow('label key must not be empty');
    expect(() =>
      validateLabels({ a: 1 } as unknown as Record<string, string>, 'container.Labels'),
    ).toThrow('container.Labels: label "a" value must be a string: invalid argument');
    expect(() => validateLabels({ [`${'k'.repeat(100)}`]: 'v'.repeat(4000) })).toThrow(
      new RegExp(`^labels: .*key: ${'k'.repeat(64)}: invalid argument$`),
    );
  });

  it('drops empty values', () => {
    expect(compactLabels({ a: '', b: 'x' })).toEqual({ b: 'x' });
    expect(compactLabels(undefined)).toEqual({});
  });
});
