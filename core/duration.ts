// Go duration strings ("100ms", "1h30m", "0"), as containerd's TOML config and
// ctr flags write them.

import { errInvalidArgument } from './errors/catalogue.js';

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's longest duration (math.MaxInt64 nanoseconds) in milliseconds. */
export const MAX_GO_DURATION_MS = 9_223_372_036_854.775807;

/** A Go duration ("100ms", "1h30m", "0") in milliseconds; negative ones are refused. */
export function parseGoDuration(text: string, what: string): number {
  if (typeof text !== 'string') throw errInvalidArgument(`${what} must be a duration string`);
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) throw errInvalidArgument(`${what}: invalid duration ${JSON.stringify(text)}`);
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos === 0) throw errInvalidArgument(`${what}: invalid duration ${JSON.stringify(text)}`);
  // Go refuses what overflows; here it would become Infinity or a timer that fires at once.
  if (!(total <= MAX_GO_DURATION_MS)) {
    throw errInvalidArgument(`${what}: invalid duration ${JSON.stringify(text)}: too long`);
  }
  return total;
}
