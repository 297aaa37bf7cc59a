// The berth command tree, built apart from the entry point so tests can walk it.
import { Command } from 'commander';
import { DEFAULT_ADDRESS, DEFAULT_NAMESPACE } from '../../client/connection.js';
import { VERSION } from '../../core/version.js';
import { registerCompletion } from './completion.js';
import { registerContainers } from './containers.js';
import { registerContent } from './content.js';
import { registerImages } from './images.js';
import { registerLeases } from './leases.js';
import { registerSnapshots } from './snapshots.js';
import { registerEvents } from './events.js';
import { registerGC } from './gc.js';
import { registerNamespaces } from './namespaces.js';
import { registerPlugins } from './plugins.js';
import { registerRun } from './run.js';
import { registerStats } from './stats.js';
import { registerTasks } from './tasks.js';
import { registerVersion } from './version.js';

/** The whole command tree: every verb, flag and global option. */
export function buildProgram(): Command {
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
    .showHelpAfterError()
    // Commander's exits become errors, so every exit status is decided in one place.
    .exitOverride();

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
  registerStats(program);
  registerCompletion(program);
  return program;
}
