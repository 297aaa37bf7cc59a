import type { Command } from 'commander';
import { REVISION, VERSION } from '../../core/version.js';
import { withClient } from './context.js';

export function registerVersion(program: Command) {
  program
    .command('version')
    .description('print the client and server versions')
    .action(
      withClient(async (client) => {
        process.stdout.write(
          `Client:\n  Version:  ${VERSION}\n  Revision: ${REVISION}\n  Node version: ${process.version}\n\n`,
        );
        const v = await client.version();
        const { uuid } = await client.introspection.server();
        process.stdout.write(
          `Server:\n  Version:  ${v.version}\n  Revision: ${v.revision}\n  UUID: ${uuid}\n`,
        );
      }),
    );
}
