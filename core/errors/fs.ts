// Filesystem failures as catalogue errors. Node's errors for writes to an open
// file say only "ENOSPC: no space left on device, write": no path, nothing of
// what was being done. Wrapped here, they name the operation and the file, and
// carry the status a caller can act on (a full disk is ResourceExhausted).

import { BerthError, ERRNO_CODES, type ErrorCode, isBerthError } from './catalogue.js';

/** The code of a Node system error's errno, if the catalogue maps it. */
export function errnoCode(err: unknown): ErrorCode | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? ERRNO_CODES[code] : undefined;
}

/**
 * `err` from the filesystem as a BerthError whose message starts with `what`
 * (the operation and its file, e.g. `write ingest foo (/var/lib/…/data)`).
 * A BerthError passes unchanged; unmapped errnos become Internal.
 */
export function fsError(
  what: string,
  err: unknown,
  codes: Readonly<Record<string, ErrorCode>> = ERRNO_CODES,
): BerthError {
  if (isBerthError(err)) return err;
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  const code = (typeof errno === 'string' && codes[errno]) || 'Internal';
  const detail = err instanceof Error ? err.message : String(err);
  return new BerthError(code, `${what}: ${detail}`, { cause: err });
}
