#!/usr/bin/env node
// berth-shim: the runtime v2 shim. `start` and `delete` are the daemon's
// subcommands; with no subcommand this is the long-running server `start` launches.
// Bundled into one file (shim/build.mjs) because the daemon runs it per container.

import { fileURLToPath } from 'node:url';
import { binding, closeInheritedFrom, dup2 } from '../native/index.js';
import { deleteShim } from '../shim/delete.js';
import { FlagError, parseFlags } from '../shim/flags.js';
import { runServer } from '../shim/server.js';
import {
  AssignmentError,
  adoptAssignment,
  receiveAssignment,
} from '../core/runtime/spare-assignment.js';
import { startInline, startShim } from '../shim/start.js';

function fail(msg: string, code = 1): never {
  process.stderr.write(`berth-shim: ${msg}\n`);
  process.exit(code);
}

/**
 * A spare (BERTH_SHIM_SPARE=1, launched by berthd ahead of need) loads
 * everything a server needs, then waits for its `start` arguments on stdin.
 */
async function spareArgs(): Promise<string[]> {
  binding(); // finds and loads the addon now, not when the task is waiting
  let assignment;
  try {
    assignment = await receiveAssignment();
  } catch (err) {
    if (err instanceof AssignmentError) fail(err.message, 2);
    throw err;
  }
  if (!assignment) process.exit(0); // not needed after all
  return adoptAssignment(assignment);
}

async function main(): Promise<void> {
  // Whatever its starter leaked (an fd that is not close-on-exec) is not ours
  // to hold open for the life of the containers: a daemon's database files, say.
  closeInheritedFrom(3);
  const argv =
    process.env.BERTH_SHIM_SPARE === '1' && process.env.BERTH_SHIM_INLINE_START === '1'
      ? await spareArgs()
      : process.argv.slice(2);
  let flags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    if (err instanceof FlagError) fail(err.message, 2);
    throw err;
  }
  if (flags.version) {
    const { VERSION, REVISION } = await import('../core/version.js');
    process.stdout.write(`berth-shim:\n  Version: ${VERSION}\n  Revision: ${REVISION}\n`);
    return;
  }
  const [command, ...rest] = flags.args;
  if (rest.length > 0) fail(`unexpected arguments: ${rest.join(' ')}`, 2);

  switch (command) {
    case undefined:
      await runServer(flags);
      return;
    case 'start': {
      if (process.env.BERTH_SHIM_INLINE_START === '1') {
        const r = await startInline(
          flags,
          (f) => runServer(f),
          (stdin, stdout, stderr) => {
            dup2(stdin, 0);
            dup2(stdout, 1);
            dup2(stderr, 2);
          },
        );
        if (r.serving) return; // this process is the server now
        process.stdout.write(r.address);
        process.exit(0);
      }
      const script = fileURLToPath(import.meta.url);
      const { address } = await startShim(flags, { script });
      process.stdout.write(address);
      process.exit(0);
    }
    case 'delete': {
      const response = await deleteShim(flags, (m) => process.stderr.write(`${m}\n`));
      process.stdout.write(response, () => process.exit(0));
      return;
    }
    default:
      fail(`unknown command ${JSON.stringify(command)}`, 2);
  }
}

main().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
