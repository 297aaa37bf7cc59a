import type { Command } from 'commander';
import type { Client } from '../../client/client.js';
import type { ContainerHandle, ProcessHandle } from '../../client/container.js';
import { attachStdio } from './attach.js';
import {
  type ContainerFlags,
  addContainerFlags,
  createContainer,
  deleteContainerAndSnapshot,
  splitRunArgs,
} from './container-flags.js';
import { withClient } from './context.js';
import { UsageError } from './exit-codes.js';

interface RunFlags extends ContainerFlags {
  rm?: boolean;
  detach?: boolean;
  interactive?: boolean;
}

/**
 * Runs a process attached to this terminal until it exits; returns its exit
 * status. The task is deleted afterwards (the container stays).
 */
export async function runAttached(
  ctr: ContainerHandle,
  opts: { tty: boolean; stdin: boolean },
): Promise<number> {
  const task = await ctr.newTask({ stdio: true, stdin: opts.stdin, terminal: opts.tty });
  let att: ReturnType<typeof attachStdio> | undefined;
  try {
    att = attachStdio(task, opts);
    const exited = task.wait();
    await task.start();
    const { exitStatus } = await exited;
    att.restore();
    att = undefined;
    await task.delete();
    return exitStatus;
  } finally {
    att?.restore();
  }
}

/**
 * Starts a task and leaves it running. Plain: no stdio (/dev/null). With
 * `attachable`, its FIFOs stay in place for `berth tasks attach` (output the
 * task writes while nobody is attached waits in the shim).
 */
export async function startDetached(
  ctr: ContainerHandle,
  attachable?: { tty: boolean; stdin: boolean },
): Promise<ProcessHandle> {
  const task = await ctr.newTask(
    attachable ? { stdio: true, stdin: attachable.stdin, terminal: attachable.tty } : {},
  );
  await task.start();
  return task;
}

async function run(client: Client, first: string, rest: string[], f: RunFlags): Promise<void> {
  if (f.rm && f.detach) throw new UsageError('--rm and --detach cannot be combined');
  const { image, id, args } = splitRunArgs(first, rest, f);
  const ctr = await createContainer(client, id, args, f, image);
  try {
    if (f.detach) {
      const attachable = f.interactive || f.tty;
      await startDetached(
        ctr,
        attachable ? { tty: f.tty ?? false, stdin: f.interactive ?? false } : undefined,
      );
      // Our FIFO ends close with this process; the FIFOs stay for `tasks attach`.
      process.exit(0);
    }
    const status = await runAttached(ctr, {
      tty: f.tty ?? false,
      stdin: (f.interactive ?? false) || (f.tty ?? false),
    });
    process.exitCode = Math.min(status, 255);
  } catch (err) {
    if (f.rm) await deleteContainerAndSnapshot(client, ctr).catch(() => {});
    throw err;
  }
  if (f.rm) await deleteContainerAndSnapshot(client, ctr);
}

export function registerRun(program: Command) {
  addContainerFlags(
    program
      .command('run <image-or-id> [args...]')
      .passThroughOptions()
      .description(
        'run IMAGE ID [COMMAND…] (or --rootfs DIR ID [COMMAND…]): create a container and run a task in it (exit status becomes ours)',
      )
      .option('--rm', 'delete the container when the task exits')
      .option('-d, --detach', 'start the task and return')
      .option('-i, --interactive', 'forward stdin'),
  ).action(
    withClient(async (client, first: string, rest: string[], f: RunFlags) =>
      run(client, first, rest, f),
    ),
  );
}
