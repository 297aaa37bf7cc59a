#!/usr/bin/env node
// berth: the operator's CLI, in the spirit of containerd's ctr.
import { Command } from 'commander';
import { DEFAULT_ADDRESS, DEFAULT_NAMESPACE } from '../api/client/connection.js';
import { VERSION } from '../api/version.js';
import { registerContainers } from './berth/containers.js';
import { registerContent } from './berth/content.js';
import { registerImages } from './berth/images.js';
import { registerLeases } from './berth/leases.js';
import { registerSnapshots } from './berth/snapshots.js';
import { registerEvents } from './berth/events.js';
import { registerGC } from './berth/gc.js';
import { registerNamespaces } from './berth/namespaces.js';
import { registerPlugins } from './berth/plugins.js';
import { registerRun } from './berth/run.js';
import { registerTasks } from './berth/tasks.js';
import { registerVersion } from './berth/version.js';

const program = new Command('berth')
  .description('Berth command line client')
  .version(VERSION, '-v, --version')
  .option(
    '-a, --address <path>',
    'berthd socket (env BERTH_ADDRESS)',
    process.env.BERTH_ADDRESS ?? DEFAULT_ADDRESS,
  )
  .option(
    '-n, --namespace <ns>',
    'namespace (env BERTH_NAMESPACE)',
    process.env.BERTH_NAMESPACE ?? DEFAULT_NAMESPACE,
  )
  .option('--timeout <seconds>', 'deadline for each request')
  .enablePositionalOptions()
  .showHelpAfterError();

registerVersion(program);
registerPlugins(program);
registerNamespaces(program);
registerContainers(program);
registerImages(program);
registerContent(program);
registerSnapshots(program);
registerLeases(program);
registerGC(program);
registerEvents(program);
registerRun(program);
registerTasks(program);

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`berth: ${err.message}\n`);
  process.exit(1);
});
