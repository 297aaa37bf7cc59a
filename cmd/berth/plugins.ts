import type { Command } from 'commander';
import type { Plugin } from '../../client/index.js';
import { type FormatFlags, addFormatOption, printList } from './format.js';
import { table } from './output.js';
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
  addFormatOption(
    plugins
      .command('ls [filters...]')
      .alias('list')
      .description('list plugins, with their status (filters like type==io.berth.grpc.v1)')
      .option('-d, --detailed', 'show requirements, exports, capabilities and errors'),
  ).action(
    withClient(async (client, filters: string[], flags: FormatFlags & { detailed?: boolean }) => {
      const list = await client.introspection.plugins(filters);
      await printList(flags, list, {
        fields: (p) => p,
        table: (items) =>
          flags.detailed
            ? items.map(detailed).join('')
            : table(
                ['TYPE', 'ID', 'PLATFORMS', 'STATUS'],
                items.map((p) => [p.type, p.id, platforms(p), status(p)]),
              ),
      });
    }),
  );
}

function detailed(p: Plugin): string {
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
  return lines.join('\n') + '\n\n';
}
