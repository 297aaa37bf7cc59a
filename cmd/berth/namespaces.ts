import type { Command } from 'commander';
import { labelsString, parseLabelArgs, printJSON, table } from './output.js';
import { withClient } from './context.js';

export function registerNamespaces(program: Command) {
  const ns = program
    .command('namespaces')
    .aliases(['namespace', 'ns'])
    .description('manage namespaces');
  ns.command('ls')
    .alias('list')
    .description('list namespaces')
    .option('-q, --quiet', 'print only names')
    .option('--json', 'print JSON')
    .action(
      withClient(async (client, flags: { quiet?: boolean; json?: boolean }) => {
        const list = (await client.namespaces.list()).sort((a, b) => a.name.localeCompare(b.name));
        if (flags.json) return printJSON(list);
        if (flags.quiet) {
          for (const n of list) process.stdout.write(n.name + '\n');
          return;
        }
        process.stdout.write(
          table(
            ['NAME', 'LABELS'],
            list.map((n) => [n.name, labelsString(n.labels)]),
          ),
        );
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
        let failed = false;
        for (const n of names) {
          try {
            await client.namespaces.delete(n);
            process.stdout.write(n + '\n');
          } catch (err) {
            failed = true;
            process.stderr.write(`berth: unable to delete ${n}: ${(err as Error).message}\n`);
          }
        }
        if (failed) process.exitCode = 1;
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
