import { describe, expect, it } from 'vitest';
import { encodeOutcome } from './status.js';

describe('error stream status', () => {
  it('v4 JSON for success, exit codes and errors', () => {
    expect(JSON.parse(encodeOutcome({ exitCode: 0 }, true)!.toString())).toEqual({
      metadata: {},
      status: 'Success',
    });
    const failure = JSON.parse(encodeOutcome({ exitCode: 137 }, true)!.toString());
    expect(failure).toMatchObject({
      status: 'Failure',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '137' }] },
    });
    expect(JSON.parse(encodeOutcome({ error: 'boom' }, true)!.toString())).toMatchObject({
      status: 'Failure',
      reason: 'InternalError',
      code: 500,
    });
  });

  it('bare text before v4, nothing on success', () => {
    expect(encodeOutcome({ exitCode: 0 }, false)).toBeUndefined();
    expect(encodeOutcome({ exitCode: 2 }, false)!.toString()).toContain('exit status 2');
    expect(encodeOutcome({ error: 'boom' }, false)!.toString()).toBe('boom');
  });
});
