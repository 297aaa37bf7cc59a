import type { Command } from 'commander';
import { reportFailure } from './exit-codes.js';
import { type FormatFlags, addFormatOption, printList } from './format.js';
import { labelsString, parseLabelArgs, table } from './output.js';
import { withClient } from './context.js';

export function registerNamespaces(program: Command) {
  const ns = program
    .command('namespaces')
    .aliases(['namespace', 'ns'])
    .description('manage namespaces');
  addFormatOption(
    ns
      .command('ls')
      .alias('list')
      .description('list namespaces')
      .option('-q, --quiet', 'print only names'),
  ).action(
    withClient(async (client, flags: FormatFlags) => {
      const list = (await client.namespaces.list()).sort((a, b) => a.name.localeCompare(b.name));
      await printList(flags, list, {
        fields: (n) => ({ name: n.name, labels: n.labels }),
        id: (n) => n.name,
        table: (items) =>
          table(
            ['NAME', 'LABELS'],
            items.map((n) => [n.name, labelsString(n.labels)]),
          ),
      });
    }),
  );
  ns.command('create <name> [labels...]')
    .description('create a namespace with optional key=value labels')
    .action(
      withClient(async (client, name: string, labels: string[]) => {
        await client.namespaces.create(name, parseLabelArgs(labels));
      }),
    );
  ns.command('rm <names...>')
    .aliases(['remove', 'delete'])
    .description('remove empty namespaces')
    .action(
      withClient(async (client, names: string[]) => {
        for (const n of names) {
          try {
            await client.namespaces.delete(n);
            process.stdout.write(n + '\n');
          } catch (err) {
            reportFailure(`unable to delete ${n}`, err);
          }
        }
      }),
    );
  ns.command('label <name> [labels...]')
    .description('set (key=value) or remove (key=) labels on a namespace')
    .action(
      withClient(async (client, name: string, labels: string[]) => {
        const updated = await client.namespaces.setLabels(name, parseLabelArgs(labels));
        process.stdout.write(labelsString(updated.labels) + '\n');
      }),
    );
}
