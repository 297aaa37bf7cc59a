import type { Command } from 'commander';
import type { Plugin } from '../../api/client/index.js';
import { printJSON, table } from './output.js';
import { withClient } from './context.js';

function status(p: Plugin): string {
  if (!p.initErr) return 'ok';
  return p.initErr.message.includes('skip plugin') ? 'skip' : 'error';
}

function platforms(p: Plugin): string {
  const list = p.platforms.map((x) => [x.os, x.architecture, x.variant].filter(Boolean).join('/'));
  return list.length ? list.join(',') : '-';
}

export function registerPlugins(program: Command) {
  const plugins = program.command('plugins').alias('plugin').description('inspect daemon plugins');
  plugins
    .command('ls [filters...]')
    .alias('list')
    .description('list plugins, with their status (filters like type==io.berth.grpc.v1)')
    .option('-d, --detailed', 'show requirements, exports, capabilities and errors')
    .option('--json', 'print JSON')
    .action(
      withClient(
        async (client, filters: string[], flags: { detailed?: boolean; json?: boolean }) => {
          const list = await client.introspection.plugins(filters);
          if (flags.json) return printJSON(list);
          if (!flags.detailed) {
            process.stdout.write(
              table(
                ['TYPE', 'ID', 'PLATFORMS', 'STATUS'],
                list.map((p) => [p.type, p.id, platforms(p), status(p)]),
              ),
            );
            return;
          }
          for (const p of list) {
            const lines = [
              `Type:          ${p.type}`,
              `ID:            ${p.id}`,
              `Status:        ${status(p)}`,
              `Platforms:     ${platforms(p)}`,
            ];
            if (p.requires.length) lines.push(`Requires:      ${p.requires.join(', ')}`);
            if (p.capabilities.length) lines.push(`Capabilities:  ${p.capabilities.join(', ')}`);
            const exp = Object.entries(p.exports);
            if (exp.length) {
              lines.push('Exports:');
              for (const [k, v] of exp) lines.push(`               ${k}  ${v}`);
            }
            if (p.initErr) lines.push(`Error:         ${p.initErr.message}`);
            process.stdout.write(lines.join('\n') + '\n\n');
          }
        },
      ),
    );
}
