import { describe, expect, it } from 'vitest';
import { AssignmentError, formatAssignment, parseAssignment } from './spare-assignment.js';

describe('spare shim assignments', () => {
  const good = {
    args: ['-namespace', 'default', '-id', 'c1', 'start'],
    env: { TTRPC_ADDRESS: '/run/berth/berth.sock.ttrpc' },
    cwd: '/run/berth/io.berth.runtime.v2.task/default/c1',
  };

  it('round-trips what the daemon sends', () => {
    expect(parseAssignment(formatAssignment(good))).toEqual(good);
  });

  it.each([
    ['not JSON', 'start', /malformed assignment/],
    ['not an object', '"start"', /not an object/],
    ['args missing', JSON.stringify({ ...good, args: undefined }), /args must be a list/],
    ['args with a number', JSON.stringify({ ...good, args: ['-id', 1, 'start'] }), /args/],
    ['not a start', JSON.stringify({ ...good, args: ['-id', 'c1', 'delete'] }), /only .* `start`/],
    ['env a list', JSON.stringify({ ...good, env: ['A=1'] }), /env must map/],
    ['env value a number', JSON.stringify({ ...good, env: { A: 1 } }), /env must map/],
    ['relative cwd', JSON.stringify({ ...good, cwd: 'bundle' }), /cwd must be an absolute path/],
  ])('rejects %s', (_, text, message) => {
    expect(() => parseAssignment(text)).toThrow(AssignmentError);
    expect(() => parseAssignment(text)).toThrow(message);
  });
});
