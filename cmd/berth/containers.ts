import type { Command } from 'commander';
import type { Container } from '../../client/index.js';
import { fromTimestamp } from '../../core/protobuf/timestamp.js';
import { unpackJson } from '../../core/protobuf/typeurl.js';
import { reportFailure } from './exit-codes.js';
import { type FormatFlags, addFormatOption, printList } from './format.js';
import { labelsString, parseLabelArgs, printJSON, table } from './output.js';
import {
  type ContainerFlags,
  addContainerFlags,
  createContainer,
  deleteContainerAndSnapshot,
  splitRunArgs,
} from './container-flags.js';
import { withClient } from './context.js';
import { removeTask } from './tasks.js';
import type { Client } from '../../client/client.js';
import { isNotFound } from '../../core/errors/catalogue.js';

/** Container record as readable JSON: the spec decoded, options shown by type. */
export function containerInfo(c: Container) {
  return {
    ID: c.id,
    Labels: c.labels,
    Image: c.image,
    Runtime: { Name: c.runtime?.name, Options: c.runtime?.options?.typeUrl || undefined },
    SnapshotKey: c.snapshotKey,
    Snapshotter: c.snapshotter,
    CreatedAt: fromTimestamp(c.createdAt)?.toISOString(),
    UpdatedAt: fromTimestamp(c.updatedAt)?.toISOString(),
    Extensions: Object.fromEntries(Object.entries(c.extensions).map(([k, v]) => [k, v.typeUrl])),
    Spec: c.spec ? unpackJson(c.spec) : undefined,
  };
}

export function registerContainers(program: Command) {
  const cs = program
    .command('containers')
    .aliases(['container', 'c'])
    .description('manage containers')
    .enablePositionalOptions();
  addFormatOption(
    cs
      .command('ls [filters...]')
      .alias('list')
      .description('list containers (filters like labels.app==web or image~=busybox)')
      .option('-q, --quiet', 'print only ids'),
  ).action(
    withClient(async (client, filters: string[], flags: FormatFlags) => {
      const list = (await client.containers.list(...filters)).sort((a, b) =>
        a.id.localeCompare(b.id),
      );
      await printList(flags, list, {
        fields: containerInfo,
        id: (c) => c.id,
        table: (items) =>
          table(
            ['CONTAINER', 'IMAGE', 'RUNTIME'],
            items.map((c) => [c.id, c.image || '-', c.runtime?.name ?? '-']),
          ),
      });
    }),
  );
  addContainerFlags(
    cs
      .command('create <image-or-id> [args...]')
      .passThroughOptions()
      .description(
        'create a container record (no task): IMAGE ID [CMD…], or --rootfs DIR ID [CMD…]',
      ),
  ).action(
    withClient(async (client, first: string, rest: string[], f: ContainerFlags) => {
      const { image, id, args } = splitRunArgs(first, rest, f);
      await createContainer(client, id, args, f, image);
    }),
  );
  cs.command('info <id>')
    .description('show a container record')
    .option('--spec', 'print only the OCI spec')
    .action(
      withClient(async (client, id: string, flags: { spec?: boolean }) => {
        const info = containerInfo(await client.containers.get(id));
        printJSON(flags.spec ? info.Spec : info);
      }),
    );
  cs.command('rm <ids...>')
    .aliases(['remove', 'delete', 'del'])
    .description('delete containers (and a stopped task); a running task is refused unless --force')
    .option('-f, --force', 'kill a running task first')
    .action(
      withClient(async (client, ids: string[], f: { force?: boolean }) => {
        for (const id of ids) {
          try {
            const ctr = await client.loadContainer(id);
            // As ctr does: a record deleted under a live task would leave its
            // shim running with nothing to name it by.
            if (await hasTask(client, id)) await removeTask(client, id, f.force ?? false);
            // Its snapshot goes with it, as with ctr.
            await deleteContainerAndSnapshot(client, ctr);
          } catch (err) {
            reportFailure(`failed to delete container ${id}`, err);
          }
        }
      }),
    );
  cs.command('label <id> [labels...]')
    .description('set (key=value) or remove (key=) labels on a container')
    .action(
      withClient(async (client, id: string, labels: string[]) => {
        const c = await client.containers.setLabels(id, parseLabelArgs(labels));
        process.stdout.write(labelsString(c.labels) + '\n');
      }),
    );
}

async function hasTask(client: Client, id: string): Promise<boolean> {
  try {
    await client.tasks.get(id);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
