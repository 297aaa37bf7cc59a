import { describe, expect, it } from 'vitest';
import { runcFailureCode } from './runc.js';

// runc 1.1's own messages for each kind of failure, as it logs them.
const CASES: [string, string][] = [
  ['runc create failed: invalid rootfs: stat /b/rootfs: no such file or directory', 'NotFound'],
  [
    'runc create failed: unable to start container process: exec: "/nope": stat /nope: no such file or directory',
    'NotFound',
  ],
  [
    'runc exec failed: unable to start container process: exec: "nope": executable file not found in $PATH',
    'NotFound',
  ],
  [
    'runc create failed: unable to start container process: error during container init: error mounting "/nonexist" to rootfs at "/x": stat /nonexist: no such file or directory',
    'NotFound',
  ],
  [
    "runc create failed: invalid character 'b' looking for beginning of object key string",
    'InvalidArgument',
  ],
  ['runc create failed: args must not be empty', 'InvalidArgument'],
  ['runc create failed: namespace {"bogus" ""} does not exist', 'InvalidArgument'],
  ['runc create failed: container with given ID already exists', 'AlreadyExists'],
  [
    'runc create failed: unable to start container process: unable to apply caps: operation not permitted',
    'PermissionDenied',
  ],
  ['runc create failed: unable to start container process: something new', 'Unknown'],
];

describe('runc failures', () => {
  for (const [message, code] of CASES) {
    it(`${code}: ${message.slice(0, 70)}`, () => {
      expect(runcFailureCode(message)).toBe(code);
    });
  }
});
