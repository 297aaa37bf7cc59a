import type { Command } from 'commander';
import { leasesApi } from '../../client/leases.js';
import { fromTimestamp } from '../../core/protobuf/timestamp.js';
import { withClient } from './context.js';
import { durationOption } from './args.js';
import { reportFailure } from './exit-codes.js';
import { type FormatFlags, addFormatOption, printList } from './format.js';
import { labelsString, parseLabelArgs, table } from './output.js';

export function registerLeases(program: Command) {
  const leases = program.command('leases').alias('lease').description('manage leases');

  addFormatOption(
    leases
      .command('ls [filters...]')
      .alias('list')
      .description('list leases (filters like id==x or labels.app==web)')
      .option('-q, --quiet', 'print only lease ids'),
  ).action(
    withClient(async (client, filters: string[], flags: FormatFlags) => {
      const list = await leasesApi(client).list(...filters);
      await printList(flags, list, {
        fields: (l) => ({
          ID: l.id,
          CreatedAt: fromTimestamp(l.createdAt)?.toISOString(),
          Labels: l.labels,
        }),
        id: (l) => l.id,
        table: (items) =>
          table(
            ['ID', 'CREATED AT', 'LABELS'],
            items.map((l) => [
              l.id,
              fromTimestamp(l.createdAt)?.toISOString() ?? '-',
              labelsString(l.labels),
            ]),
          ),
      });
    }),
  );

  leases
    .command('create [labels...]')
    .description('create a lease with optional key=value labels; prints its id')
    .option('--id <id>', 'lease id (generated when omitted)')
    .addOption(
      durationOption('-x, --expires <duration>', 'expire after this long; 0 never expires', '24h'),
    )
    .action(
      withClient(async (client, labels: string[], flags: { id?: string; expires: number }) => {
        const lease = await leasesApi(client).create({
          id: flags.id,
          labels: parseLabelArgs(labels),
          expiresInMs: flags.expires,
        });
        process.stdout.write(lease.id + '\n');
      }),
    );

  addFormatOption(
    leases.command('resources <id>').description('list what a lease protects'),
  ).action(
    withClient(async (client, id: string, flags: FormatFlags) => {
      const resources = await leasesApi(client).listResources(id);
      await printList(flags, resources, {
        fields: (r) => ({ Type: r.type, ID: r.id }),
        table: (items) =>
          table(
            ['TYPE', 'ID'],
            items.map((r) => [r.type, r.id]),
          ),
      });
    }),
  );

  leases
    .command('rm <ids...>')
    .aliases(['remove', 'delete', 'del'])
    .description('delete leases')
    .option('--sync', 'wait for garbage collection of what only these leases held')
    .action(
      withClient(async (client, ids: string[], flags: { sync?: boolean }) => {
        const api = leasesApi(client);
        for (const id of ids) {
          try {
            await api.delete(id, { sync: flags.sync });
            process.stdout.write(id + '\n');
          } catch (err) {
            reportFailure(`failed to delete lease ${id}`, err);
          }
        }
      }),
    );
}
