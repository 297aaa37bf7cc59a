// Option values checked while the command line is parsed, so a bad one is a
// usage error (exit status 2) before any request is made.

import { InvalidArgumentError, Option } from 'commander';
import { parseGoDuration } from '../../core/duration.js';

/** A Go duration option ("500ms", "1m30s") whose value is in milliseconds. */
export function durationOption(flags: string, description: string, byDefault: string): Option {
  const name = flags.split(/[ ,]+/).find((f) => f.startsWith('--')) ?? flags;
  const parse = (text: string) => {
    try {
      return parseGoDuration(text, name);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
  return new Option(flags, description).argParser(parse).default(parse(byDefault), byDefault);
}
