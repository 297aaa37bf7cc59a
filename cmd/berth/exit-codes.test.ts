import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { BerthError, errNotFound } from '../../core/errors/catalogue.js';
import { ExitCode, UsageError, exitCodeFor } from './exit-codes.js';

describe('exit codes', () => {
  it('help and version are answers; any other commander refusal is a usage error', () => {
    expect(exitCodeFor(new CommanderError(0, 'commander.helpDisplayed', ''))).toBe(0);
    expect(exitCodeFor(new CommanderError(0, 'commander.version', ''))).toBe(0);
    expect(exitCodeFor(new CommanderError(0, 'commander.help', ''))).toBe(0);
    // Help printed because a verb group was given no verb.
    expect(exitCodeFor(new CommanderError(1, 'commander.help', ''))).toBe(ExitCode.USAGE);
    expect(exitCodeFor(new CommanderError(1, 'commander.unknownOption', ''))).toBe(ExitCode.USAGE);
    expect(exitCodeFor(new CommanderError(1, 'commander.invalidArgument', ''))).toBe(
      ExitCode.USAGE,
    );
  });

  it('tells a refused command line, an absent daemon and a failed request apart', () => {
    expect(exitCodeFor(new UsageError('--rm and --detach cannot be combined'))).toBe(2);
    expect(
      exitCodeFor(
        new BerthError('Unavailable', 'cannot connect to berthd at /x.sock: is it running?'),
      ),
    ).toBe(3);
    // An Unavailable the daemon itself answered is a failed request.
    expect(exitCodeFor(new BerthError('Unavailable', 'shim went away'))).toBe(1);
    expect(exitCodeFor(errNotFound('container "x"'))).toBe(1);
    expect(exitCodeFor(new Error('anything else'))).toBe(1);
  });
});
