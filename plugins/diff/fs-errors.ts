// Maps filesystem failures met while applying an entry to catalogue errors with
// the entry named, so a caller sees which part of which layer failed and why.

import {
  BerthError,
  errFailedPrecondition,
  errInternal,
  errInvalidArgument,
  errResourceExhausted,
  isBerthError,
} from '../../api/errors.js';

type Factory = (context: string, options?: { cause?: unknown }) => BerthError;

const permissionDenied: Factory = (context, options) =>
  new BerthError('PermissionDenied', `${context}: permission denied`, options);

const BY_ERRNO: Record<string, Factory> = {
  ENOSPC: errResourceExhausted,
  EDQUOT: errResourceExhausted,
  EMFILE: errResourceExhausted,
  ENFILE: errResourceExhausted,
  EPERM: permissionDenied,
  EACCES: permissionDenied,
  EROFS: errFailedPrecondition,
  // the layer's content conflicts with itself or with the tree below it
  ENOTDIR: errInvalidArgument,
  EISDIR: errInvalidArgument,
  EEXIST: errInvalidArgument,
  ENOENT: errInvalidArgument,
  ENOTEMPTY: errInvalidArgument,
  EINVAL: errInvalidArgument,
  ENAMETOOLONG: errInvalidArgument,
  ELOOP: errInvalidArgument,
  EXDEV: errInvalidArgument,
};

export function entryError(entryName: string, err: unknown): BerthError {
  if (isBerthError(err)) return err;
  const e = err as NodeJS.ErrnoException;
  const make = (e?.code && BY_ERRNO[e.code]) || errInternal;
  const detail = e instanceof Error ? e.message : String(err);
  return make(`applying layer entry ${JSON.stringify(entryName)}: ${detail}`, { cause: err });
}
