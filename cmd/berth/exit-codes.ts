// berth's exit statuses, one meaning each, so scripts can tell a refused
// command line from a failed request and from a daemon that is not there.
// docs/cli.md lists them.

import { CommanderError } from 'commander';
import { BerthError, isBerthError } from '../../core/errors/catalogue.js';

export const ExitCode = {
  /** Everything asked for was done. */
  OK: 0,
  /** A request failed (for verbs taking several arguments: at least one did). */
  FAILED: 1,
  /** The command line was refused before any request: unknown verb or flag, bad argument. */
  USAGE: 2,
  /** berthd could not be reached at the socket. */
  UNREACHABLE: 3,
} as const;

/** A command line the CLI refuses by itself, before asking the daemon anything. */
export class UsageError extends BerthError {
  constructor(message: string) {
    super('InvalidArgument', message);
    this.name = 'UsageError';
  }
}

/** The client's transport failure (see client/connection.ts), not an Unavailable the daemon sent. */
export function isDaemonUnreachable(err: unknown): boolean {
  return isBerthError(err, 'Unavailable') && err.message.startsWith('cannot connect to berthd');
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    // Help and version are answers; help shown for a missing verb (exit code 1) is not.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    if (err.code === 'commander.help' && err.exitCode === 0) return 0;
    return ExitCode.USAGE;
  }
  if (err instanceof UsageError) return ExitCode.USAGE;
  if (isDaemonUnreachable(err)) return ExitCode.UNREACHABLE;
  return ExitCode.FAILED;
}

/** Raises the exit status to `code` unless a worse one is already set. */
export function raiseExitCode(code: number): void {
  if (code > Number(process.exitCode ?? 0)) process.exitCode = code;
}

/** Reports one failed argument of a verb that takes several, and carries on. */
export function reportFailure(what: string, err: unknown): void {
  process.stderr.write(`berth: ${what}: ${(err as Error).message}\n`);
  raiseExitCode(exitCodeFor(err));
}

/** The last word on an error nothing else caught: commander has already printed its own. */
export function exitOnError(err: unknown): never {
  if (!(err instanceof CommanderError)) {
    process.stderr.write(`berth: ${(err as Error).message ?? String(err)}\n`);
  }
  process.exit(exitCodeFor(err));
}
