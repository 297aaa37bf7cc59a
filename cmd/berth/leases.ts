import type { Command } from 'commander';
import { leasesApi } from '../../api/client/leases.js';
import { parseGoDuration } from '../../api/duration.js';
import { fromTimestamp } from '../../api/timestamp.js';
import { withClient } from './context.js';
import { labelsString, parseLabelArgs, printJSON, table } from './output.js';

export function registerLeases(program: Command) {
  const leases = program.command('leases').alias('lease').description('manage leases');

  leases
    .command('ls [filters...]')
    .alias('list')
    .description('list leases (filters like id==x or labels.app==web)')
    .option('-q, --quiet', 'print only lease ids')
    .option('--json', 'print JSON')
    .action(
      withClient(async (client, filters: string[], flags: { quiet?: boolean; json?: boolean }) => {
        const list = await leasesApi(client).list(...filters);
        if (flags.json) {
          return printJSON(
            list.map((l) => ({
              ID: l.id,
              CreatedAt: fromTimestamp(l.createdAt)?.toISOString(),
              Labels: l.labels,
            })),
          );
        }
        if (flags.quiet) {
          for (const l of list) process.stdout.write(l.id + '\n');
          return;
        }
        process.stdout.write(
          table(
            ['ID', 'CREATED AT', 'LABELS'],
            list.map((l) => [
              l.id,
              fromTimestamp(l.createdAt)?.toISOString() ?? '-',
              labelsString(l.labels),
            ]),
          ),
        );
      }),
    );

  leases
    .command('create [labels...]')
    .description('create a lease with optional key=value labels; prints its id')
    .option('--id <id>', 'lease id (generated when omitted)')
    .option('-x, --expires <duration>', 'expire after this long; 0 never expires', '24h')
    .action(
      withClient(async (client, labels: string[], flags: { id?: string; expires: string }) => {
        const lease = await leasesApi(client).create({
          id: flags.id,
          labels: parseLabelArgs(labels),
          expiresInMs: parseGoDuration(flags.expires, '--expires'),
        });
        process.stdout.write(lease.id + '\n');
      }),
    );

  leases
    .command('resources <id>')
    .description('list what a lease protects')
    .action(
      withClient(async (client, id: string) => {
        const resources = await leasesApi(client).listResources(id);
        process.stdout.write(
          table(
            ['TYPE', 'ID'],
            resources.map((r) => [r.type, r.id]),
          ),
        );
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
        let failed = false;
        for (const id of ids) {
          try {
            await api.delete(id, { sync: flags.sync });
            process.stdout.write(id + '\n');
          } catch (err) {
            failed = true;
            process.stderr.write(
              `berth: failed to delete lease ${id}: ${(err as Error).message}\n`,
            );
          }
        }
        if (failed) process.exitCode = 1;
      }),
    );
}
