// Calls to a shim that may only be slow. At daemon start every shim is asked
// at once, on a node that may be loaded; a live shim that misses a deadline
// must not be taken for a dead one, which would kill its containers. So a
// missed deadline doubles the limit and tries again; any other error ends it.

import { isBerthError } from '../errors/catalogue.js';

/** Tries before a shim that accepts connections but never answers is given up (2 + 4 + 8 + 16 s from 2 s). */
export const SHIM_CALL_ATTEMPTS = 4;

export async function withGrowingDeadline<T>(
  firstMs: number,
  call: (timeoutMs: number) => Promise<T>,
  onMiss: (timeoutMs: number) => void = () => {},
  attempts = SHIM_CALL_ATTEMPTS,
): Promise<T> {
  for (let n = 1, ms = firstMs; ; n++, ms *= 2) {
    try {
      return await call(ms);
    } catch (err) {
      if (n >= attempts || !isBerthError(err, 'DeadlineExceeded')) throw err;
      onMiss(ms);
    }
  }
}
