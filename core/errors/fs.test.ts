import { describe, expect, it } from 'vitest';
import { BerthError, toStatus } from './catalogue.js';
import { errnoCode, fsError } from './fs.js';

const sysErr = (code: string, message: string) =>
  Object.assign(new Error(message), { code, errno: -28, syscall: 'write' });

describe('filesystem errors', () => {
  it('names the operation and file, with the code a caller can act on', () => {
    const e = fsError(
      'write ingest r1 (/var/lib/berth/ingest/r1/data)',
      sysErr('ENOSPC', 'ENOSPC: no space left on device, write'),
    );
    expect(e.code).toBe('ResourceExhausted');
    expect(e.message).toBe(
      'write ingest r1 (/var/lib/berth/ingest/r1/data): ENOSPC: no space left on device, write',
    );
    expect(toStatus(e).code).toBe(8);
  });

  it('passes BerthErrors through and makes unknown errnos Internal', () => {
    const b = new BerthError('NotFound', 'gone');
    expect(fsError('x', b)).toBe(b);
    expect(fsError('x', sysErr('EWEIRD', 'odd')).code).toBe('Internal');
    expect(fsError('x', 'not even an error').message).toBe('x: not even an error');
  });

  it('maps errnos, and a caller may give its own table', () => {
    expect(errnoCode(sysErr('EACCES', ''))).toBe('PermissionDenied');
    expect(errnoCode(new Error('plain'))).toBeUndefined();
    expect(fsError('x', sysErr('ENOENT', ''), { ENOENT: 'InvalidArgument' }).code).toBe(
      'InvalidArgument',
    );
  });

  it('gives a bare system error that reached the wire its mapped code', () => {
    expect(toStatus(sysErr('ENOSPC', 'ENOSPC: no space left on device, write')).code).toBe(8);
    expect(toStatus(new Error('plain')).code).toBe(2);
  });
});
