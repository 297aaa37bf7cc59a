import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { defaultFifoRoot } from '../../core/runtime/fifo-io.js';
import type { Client } from '../../client/client.js';
import { Status } from '../../api/gen/containerd/types/task/task.js';
import type { Any } from '../../api/gen/google/protobuf/any.js';
import { fromTimestamp } from '../../core/protobuf/timestamp.js';
import { attachStdio } from './attach.js';
import { parseSignal } from './container-flags.js';
import { withClient } from './context.js';
import { decodeCgroupMetrics, unpackCgroupMetrics } from './cgroup-sample.js';
import { reportFailure } from './exit-codes.js';
import { type FormatFlags, addFormatOption, printList } from './format.js';
import { table } from './output.js';
import { runAttached, startDetached } from './run.js';

const collect = (v: string, acc: string[]) => [...acc, v];

/** A detached task's FIFOs live in a directory of their own under the FIFO root. */
function removeFifoDir(fifo: string): void {
  if (!fifo) return;
  const dir = path.dirname(fifo);
  if (path.dirname(dir) === defaultFifoRoot()) fs.rmSync(dir, { recursive: true, force: true });
}

export function statusName(s: Status): string {
  return Status[s] ?? 'UNKNOWN';
}

async function forEachId(ids: string[], what: string, fn: (id: string) => Promise<void>) {
  for (const id of ids) {
    try {
      await fn(id);
    } catch (err) {
      reportFailure(`${what} ${id}`, err);
    }
  }
}

/** Kills with SIGKILL if asked, waits for the exit, then deletes the task. */
export async function removeTask(client: Client, id: string, force: boolean): Promise<number> {
  const p = await client.tasks.get(id);
  if (p.status !== Status.STOPPED && p.status !== Status.CREATED) {
    if (!force) throw new Error(`task is ${statusName(p.status)}: stop it first or use --force`);
    const waited = client.tasks.wait(id);
    await client.tasks.kill(id, 9, { all: true });
    await waited;
  }
  const status = (await client.tasks.delete(id)).exitStatus;
  removeFifoDir(p.stdout || p.stderr || p.stdin);
  return status;
}

function metricsRows(id: string, data: Any | undefined) {
  const { v1, v2 } = unpackCgroupMetrics(data);
  if (v1) {
    return [
      id,
      String(v1.pids?.current ?? '-'),
      String(v1.memory?.usage?.usage ?? '-'),
      String(v1.memory?.usage?.limit ?? '-'),
      String(v1.cpu?.usage?.total ?? '-'),
    ];
  }
  if (v2) {
    return [
      id,
      String(v2.pids?.current ?? '-'),
      String(v2.memory?.usage ?? '-'),
      String(v2.memory?.usageLimit ?? '-'),
      String((v2.cpu?.usageUsec ?? 0) * 1000),
    ];
  }
  return [id, '-', '-', '-', '-'];
}

export function registerTasks(program: Command) {
  const ts = program
    .command('tasks')
    .aliases(['task', 't'])
    .description('manage tasks')
    .enablePositionalOptions();

  addFormatOption(
    ts
      .command('ls')
      .alias('list')
      .description('list tasks')
      .option('-q, --quiet', 'print only ids'),
  ).action(
    withClient(async (client, f: FormatFlags) => {
      const tasks = (await client.tasks.list()).sort((a, b) => a.id.localeCompare(b.id));
      await printList(f, tasks, {
        fields: (t) => ({ ...t, status: statusName(t.status) }),
        id: (t) => t.id,
        table: (items) =>
          table(
            ['TASK', 'PID', 'STATUS'],
            items.map((t) => [t.id, String(t.pid), statusName(t.status)]),
          ),
      });
    }),
  );

  ts.command('start <id>')
    .description("create and start the container's task, attached unless -d")
    .option('-d, --detach', 'start and return')
    .option('-t, --tty', 'allocate a terminal (the container spec must ask for one)')
    .option('-i, --interactive', 'forward stdin')
    .action(
      withClient(
        async (
          client,
          id: string,
          f: { detach?: boolean; tty?: boolean; interactive?: boolean },
        ) => {
          const ctr = await client.loadContainer(id);
          if (f.detach) {
            await startDetached(ctr);
            return;
          }
          const tty = f.tty ?? Boolean((await ctr.spec()).process?.terminal);
          const status = await runAttached(ctr, { tty, stdin: (f.interactive ?? false) || tty });
          process.exitCode = Math.min(status, 255);
        },
      ),
    );

  ts.command('attach <id>')
    .description("attach to a running task's stdio (started with run -d -i or -t)")
    .action(
      withClient(async (client, id: string) => {
        const task = await (await client.loadContainer(id)).attach();
        const p = await task.status();
        const att = attachStdio(task, { tty: p.terminal, stdin: Boolean(p.stdin) });
        try {
          const { exitStatus } = await task.wait();
          att.restore();
          await task.io?.close();
          process.exitCode = Math.min(exitStatus, 255);
        } finally {
          att.restore();
        }
      }),
    );

  ts.command('kill <id>')
    .description('signal a task (default SIGTERM)')
    .option('-s, --signal <sig>', 'signal name or number', 'SIGTERM')
    .option('-a, --all', 'signal every process in the container')
    .option('--exec-id <id>', 'signal this exec process')
    .action(
      withClient(
        async (client, id: string, f: { signal: string; all?: boolean; execId?: string }) => {
          await client.tasks.kill(id, parseSignal(f.signal), { all: f.all, execId: f.execId });
        },
      ),
    );

  ts.command('exec <id> <command...>')
    .passThroughOptions()
    .description('run another process in a running task')
    .requiredOption('--exec-id <id>', 'id of the new process')
    .option('-t, --tty', 'allocate a terminal')
    .option('-d, --detach', 'start it and return')
    .option('--cwd <dir>', 'working directory')
    .option('--env <KEY=VALUE>', 'extra environment variable (repeatable)', collect, [])
    .action(
      withClient(
        async (
          client,
          id: string,
          args: string[],
          f: { execId: string; tty?: boolean; detach?: boolean; cwd?: string; env: string[] },
        ) => {
          const ctr = await client.loadContainer(id);
          const task = await ctr.task();
          const base = (await ctr.spec()).process ?? {};
          const proc = await task.exec(
            f.execId,
            {
              args,
              env: [...((base.env as string[] | undefined) ?? []), ...f.env],
              ...(f.cwd ? { cwd: f.cwd } : {}),
            },
            { stdio: !f.detach, stdin: !f.detach, terminal: f.tty ?? false },
          );
          if (f.detach) {
            await proc.start();
            return;
          }
          const att = attachStdio(proc, { tty: f.tty ?? false, stdin: true });
          try {
            const exited = proc.wait();
            await proc.start();
            const { exitStatus } = await exited;
            att.restore();
            await proc.delete();
            process.exitCode = Math.min(exitStatus, 255);
          } finally {
            att.restore();
          }
        },
      ),
    );

  addFormatOption(ts.command('ps <id>').description('list the processes of a task')).action(
    withClient(async (client, id: string, f: FormatFlags) => {
      const procs = await client.tasks.pids(id);
      await printList(f, procs, {
        fields: (p) => ({ PID: p.pid, Info: p.info?.typeUrl }),
        table: (items) =>
          table(
            ['PID', 'INFO'],
            items.map((p) => [String(p.pid), p.info ? p.info.typeUrl : '-']),
          ),
      });
    }),
  );

  ts.command('pause <ids...>')
    .description('freeze every process of the tasks')
    .action(
      withClient(async (client, ids: string[]) =>
        forEachId(ids, 'pause', (id) => client.tasks.pause(id)),
      ),
    );

  ts.command('resume <ids...>')
    .description('thaw paused tasks')
    .action(
      withClient(async (client, ids: string[]) =>
        forEachId(ids, 'resume', (id) => client.tasks.resume(id)),
      ),
    );

  ts.command('rm <ids...>')
    .aliases(['delete', 'remove', 'del'])
    .description('delete stopped tasks (-f kills running ones first)')
    .option('-f, --force', 'kill a running task first')
    .action(
      withClient(async (client, ids: string[], f: { force?: boolean }) =>
        forEachId(ids, 'delete task', async (id) => {
          const status = await removeTask(client, id, f.force ?? false);
          process.stdout.write(`${id}\t${status}\n`);
        }),
      ),
    );

  addFormatOption(
    ts
      .command('metrics [ids...]')
      .alias('stats')
      .description('cgroup metrics of tasks (all when no id is given)'),
  ).action(
    withClient(async (client, ids: string[], f: FormatFlags) => {
      // Several filters are alternatives: any of the ids.
      const metrics = await client.tasks.metrics(...ids.map((id) => `id==${id}`));
      await printList(f, metrics, {
        fields: (m) => ({
          ID: m.id,
          Timestamp: fromTimestamp(m.timestamp)?.toISOString(),
          ...decodeCgroupMetrics(m.data),
        }),
        table: (items) =>
          table(
            ['ID', 'PIDS', 'MEMORY USAGE', 'MEMORY LIMIT', 'CPU NS'],
            items.map((m) => metricsRows(m.id, m.data)),
          ),
      });
    }),
  );
}
