// Maps filesystem failures met while applying an entry to catalogue errors with
// the entry named, so a caller sees which part of which layer failed and why.

import type { BerthError, ErrorCode } from '../errors/catalogue.js';
import { ERRNO_CODES } from '../errors/catalogue.js';
import { fsError } from '../errors/fs.js';

/** As for any file, except that a path conflict is the layer's own fault: its content is invalid. */
const LAYER_ERRNO_CODES: Readonly<Record<string, ErrorCode>> = {
  ...ERRNO_CODES,
  ENOENT: 'InvalidArgument',
  EEXIST: 'InvalidArgument',
  ENOTEMPTY: 'InvalidArgument',
  EIO: 'Internal',
};

export function entryError(entryName: string, err: unknown): BerthError {
  return fsError(`applying layer entry ${JSON.stringify(entryName)}`, err, LAYER_ERRNO_CODES);
}
