// A spare shim: a `start` process the daemon launched before it had a
// container for it, so Node's start-up is already paid when one comes. It
// learns what a freshly run `start` learns from its command line, environment
// and working directory from one JSON document on stdin instead, then carries
// on as an inline start. End of input with nothing read means the daemon no
// longer needs it (or is gone): the spare exits.

import fs from 'node:fs';
import path from 'node:path';

/** What the daemon sends a spare: the rest of a `start` invocation. */
export interface SpareAssignment {
  /** Shim flags and the `start` subcommand, as they would follow the script on a command line. */
  args: string[];
  /** Environment entries to set (TTRPC_ADDRESS, NAMESPACE, ...). */
  env: Record<string, string>;
  /** The bundle: the working directory of a shim `start`. */
  cwd: string;
}

/** Largest assignment accepted; a real one is well under a kilobyte. */
const MAX_ASSIGNMENT = 64 * 1024;

export class AssignmentError extends Error {
  override name = 'AssignmentError';
}

/** Validates a received assignment; throws AssignmentError naming what is wrong. */
export function parseAssignment(text: string): SpareAssignment {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new AssignmentError(`malformed assignment: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null) throw new AssignmentError('assignment is not an object');
  const { args, env, cwd } = v as Record<string, unknown>;
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
    throw new AssignmentError('assignment args must be a list of strings');
  }
  if (args[args.length - 1] !== 'start') {
    throw new AssignmentError('a spare can only be assigned a `start`');
  }
  if (
    typeof env !== 'object' ||
    env === null ||
    Array.isArray(env) ||
    !Object.values(env).every((x) => typeof x === 'string')
  ) {
    throw new AssignmentError('assignment env must map names to strings');
  }
  if (typeof cwd !== 'string' || !path.isAbsolute(cwd)) {
    throw new AssignmentError('assignment cwd must be an absolute path');
  }
  return { args: args as string[], env: env as Record<string, string>, cwd };
}

export function formatAssignment(a: SpareAssignment): string {
  return JSON.stringify(a);
}

/** Reads stdin to its end without blocking the event loop; undefined when nothing came. */
export function receiveAssignment(): Promise<SpareAssignment | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const input = fs.createReadStream('', { fd: 0, autoClose: false });
    input.on('data', (b) => {
      const chunk = typeof b === 'string' ? Buffer.from(b) : b;
      size += chunk.length;
      if (size > MAX_ASSIGNMENT) {
        input.destroy();
        reject(new AssignmentError(`assignment larger than ${MAX_ASSIGNMENT} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    input.once('error', reject);
    input.once('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '') return resolve(undefined);
      try {
        resolve(parseAssignment(text));
      } catch (err) {
        reject(err);
      }
    });
  });
}

/** Becomes the `start` the assignment describes: its environment and working directory. */
export function adoptAssignment(a: SpareAssignment): string[] {
  delete process.env.BERTH_SHIM_SPARE;
  Object.assign(process.env, a.env);
  process.chdir(a.cwd);
  return a.args;
}
