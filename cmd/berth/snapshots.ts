import type { Command } from 'commander';
import type { Client } from '../../client/client.js';
import {
  DEFAULT_SNAPSHOTTER,
  type Mount,
  SnapshotKind,
  type SnapshotInfo,
  SnapshotsApi,
} from '../../client/snapshots.js';
import { fromTimestamp } from '../../core/protobuf/timestamp.js';
import { withClient } from './context.js';
import { type FormatFlags, addFormatOption, printList } from './format.js';
import { reportFailure } from './exit-codes.js';
import { binarySize, labelsString, parseLabelArgs, printJSON, table } from './output.js';

function kindString(k: SnapshotKind): string {
  switch (k) {
    case SnapshotKind.VIEW:
      return 'View';
    case SnapshotKind.ACTIVE:
      return 'Active';
    case SnapshotKind.COMMITTED:
      return 'Committed';
    default:
      return 'Unknown';
  }
}

export function snapshotInfoJSON(i: SnapshotInfo) {
  return {
    Kind: kindString(i.kind),
    Name: i.name,
    Parent: i.parent || undefined,
    Labels: Object.keys(i.labels).length ? i.labels : undefined,
    Created: fromTimestamp(i.createdAt)?.toISOString(),
    Updated: fromTimestamp(i.updatedAt)?.toISOString(),
  };
}

/** `mount -t TYPE SOURCE TARGET -o OPTIONS`, as ctr prints mounts. */
export function mountCommands(mounts: Mount[], target: string): string {
  return mounts
    .map((m) => `mount -t ${m.type} ${m.source} ${target} -o ${m.options.join(',')}\n`)
    .join('');
}

/** Parents before children, each child under its parent, like `ctr snapshots tree`. */
export function snapshotTree(infos: SnapshotInfo[]): string {
  const names = new Set(infos.map((i) => i.name));
  const children = new Map<string, SnapshotInfo[]>();
  const roots: SnapshotInfo[] = [];
  for (const i of [...infos].sort((a, b) => a.name.localeCompare(b.name))) {
    if (i.parent && names.has(i.parent)) {
      children.set(i.parent, [...(children.get(i.parent) ?? []), i]);
    } else roots.push(i);
  }
  let out = '';
  const print = (i: SnapshotInfo, depth: number) => {
    out += depth === 0 ? `${i.name}\n` : `${'  '.repeat(depth)}\\_ ${i.name}\n`;
    for (const c of children.get(i.name) ?? []) print(c, depth + 1);
  };
  for (const r of roots) print(r, 0);
  return out;
}

function snapshotterOf(cmd: Command): string {
  for (let c: Command | null = cmd; c; c = c.parent) {
    const s = c.opts<{ snapshotter?: string }>().snapshotter;
    if (s) return s;
  }
  return DEFAULT_SNAPSHOTTER;
}

/** Runs an action with the snapshots API of the selected snapshotter. */
function withSnapshots<A extends unknown[]>(fn: (api: SnapshotsApi, ...args: A) => Promise<void>) {
  return withClient(async (client: Client, ...args: A) => {
    const cmd = args[args.length - 1] as Command;
    await fn(new SnapshotsApi(client, snapshotterOf(cmd)), ...args);
  });
}

export function registerSnapshots(program: Command) {
  const ss = program
    .command('snapshots')
    .aliases(['snapshot', 's'])
    .description('manage snapshots')
    .option(
      '--snapshotter <name>',
      'snapshotter (env BERTH_SNAPSHOTTER)',
      process.env.BERTH_SNAPSHOTTER || DEFAULT_SNAPSHOTTER,
    );

  addFormatOption(
    ss
      .command('ls [filters...]')
      .alias('list')
      .description('list snapshots (filters like kind==committed or labels.k==v)')
      .option('-q, --quiet', 'print only keys'),
  ).action(
    withSnapshots(async (api, filters: string[], flags: FormatFlags) => {
      const list = (await api.list(...filters)).sort((a, b) => a.name.localeCompare(b.name));
      await printList(flags, list, {
        fields: snapshotInfoJSON,
        id: (i) => i.name,
        table: (items) =>
          table(
            ['KEY', 'PARENT', 'KIND'],
            items.map((i) => [i.name, i.parent, kindString(i.kind)]),
          ),
      });
    }),
  );

  ss.command('tree')
    .description('show snapshots as a tree of parents and children')
    .action(
      withSnapshots(async (api) => {
        process.stdout.write(snapshotTree(await api.list()));
      }),
    );

  ss.command('prepare <key> [parent]')
    .description('prepare an active snapshot on top of a committed parent')
    .option('--mounts <target>', 'print the mount commands for this target')
    .option('--label <k=v...>', 'labels for the snapshot')
    .action(
      withSnapshots(
        async (
          api,
          key: string,
          parent: string | undefined,
          flags: { mounts?: string; label?: string[] },
        ) => {
          const mounts = await api.prepare(key, parent ?? '', parseLabelArgs(flags.label ?? []));
          if (flags.mounts) process.stdout.write(mountCommands(mounts, flags.mounts));
        },
      ),
    );

  ss.command('view <key> <parent>')
    .description('create a read-only view of a committed snapshot')
    .option('--mounts <target>', 'print the mount commands for this target')
    .action(
      withSnapshots(async (api, key: string, parent: string, flags: { mounts?: string }) => {
        const mounts = await api.view(key, parent);
        if (flags.mounts) process.stdout.write(mountCommands(mounts, flags.mounts));
      }),
    );

  ss.command('mounts <target> <key>')
    .alias('m')
    .description('print the mount commands for a snapshot at target')
    .action(
      withSnapshots(async (api, target: string, key: string) => {
        process.stdout.write(mountCommands(await api.mounts(key), target));
      }),
    );

  ss.command('commit <name> <key>')
    .description('commit an active snapshot under a name')
    .action(
      withSnapshots(async (api, name: string, key: string) => {
        await api.commit(name, key);
      }),
    );

  ss.command('rm <keys...>')
    .aliases(['remove', 'delete', 'del'])
    .description('remove snapshots')
    .action(
      withSnapshots(async (api, keys: string[]) => {
        for (const key of keys) {
          try {
            await api.remove(key);
          } catch (err) {
            reportFailure(`failed to remove snapshot ${key}`, err);
          }
        }
      }),
    );

  addFormatOption(
    ss
      .command('usage [keys...]')
      .alias('du')
      .description('show disk usage of snapshots (all when no key is given)')
      .option('-b, --bytes', 'sizes in bytes'),
  ).action(
    withSnapshots(async (api, keys: string[], flags: FormatFlags & { bytes?: boolean }) => {
      const names = keys.length ? keys : (await api.list()).map((i) => i.name).sort();
      const usages: { key: string; size: number; inodes: number }[] = [];
      for (const key of names) usages.push({ key, ...(await api.usage(key)) });
      await printList(flags, usages, {
        fields: (u) => ({ Key: u.key, Size: u.size, Inodes: u.inodes }),
        table: (items) =>
          table(
            ['KEY', 'SIZE', 'INODES'],
            items.map((u) => [
              u.key,
              flags.bytes ? String(u.size) : binarySize(u.size),
              String(u.inodes),
            ]),
          ),
      });
    }),
  );

  ss.command('info <key>')
    .description('show a snapshot record')
    .action(
      withSnapshots(async (api, key: string) => {
        printJSON(snapshotInfoJSON(await api.stat(key)));
      }),
    );

  ss.command('label <key> [labels...]')
    .description('set (key=value) or remove (key=) labels on a snapshot')
    .action(
      withSnapshots(async (api, key: string, labels: string[]) => {
        const info = await api.setLabels(key, parseLabelArgs(labels));
        process.stdout.write(labelsString(info.labels) + '\n');
      }),
    );

  ss.command('cleanup')
    .description("remove the snapshotter's directories that no snapshot owns")
    .action(
      withSnapshots(async (api) => {
        await api.cleanup();
      }),
    );
}
