#!/usr/bin/env node
// berthd: the Berth daemon. Flags follow containerd's names so operators and
// tests can run several daemons side by side in their own directories.
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import pino from 'pino';
import { VERSION } from '../core/version.js';
import { builtinPlugins } from '../plugins/builtin.js';
import {
  type DaemonConfig,
  defaultConfig,
  loadConfigFile,
  renderConfig,
} from '../plugins/daemon/config.js';
import { Daemon } from '../plugins/daemon/daemon.js';

interface Flags {
  config?: string;
  root?: string;
  state?: string;
  address?: string;
  logLevel?: string;
}

const DEFAULT_CONFIG_FILE = '/etc/berth/config.toml';

async function effective(flags: Flags): Promise<DaemonConfig> {
  const file = flags.config ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  const cfg = file ? await loadConfigFile(file) : defaultConfig();
  if (flags.root) cfg.root = flags.root;
  if (flags.state) cfg.state = flags.state;
  if (flags.address) {
    // A custom gRPC address moves the default ttrpc address with it.
    cfg.grpc.address = flags.address;
  }
  if (flags.logLevel) cfg.debug.level = flags.logLevel;
  return cfg;
}

const program = new Command('berthd')
  .description('Berth container daemon')
  .version(VERSION, '-v, --version')
  .option(
    '-c, --config <file>',
    `path to the configuration file (default ${DEFAULT_CONFIG_FILE} if present)`,
  )
  .option('--root <dir>', 'root directory for persistent data')
  .option('--state <dir>', 'state directory for volatile data')
  .option('-a, --address <path>', 'gRPC socket path')
  .option('-l, --log-level <level>', 'log level (trace, debug, info, warn, error)')
  .action(async (flags: Flags) => {
    const cfg = await effective(flags);
    const log = pino({ level: cfg.debug.level, base: { pid: process.pid } }, pino.destination(2));
    // Handlers go in before start: the socket accepts connections before
    // start() resolves, and a signal in that window must still stop cleanly.
    let daemon: Daemon | undefined;
    let pending: string | undefined;
    let stopping = false;
    const stop = (signal: string) => {
      if (!daemon) {
        pending ??= signal;
        return;
      }
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'signal received');
      daemon.stop().then(
        () => process.exit(0),
        (err) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    try {
      daemon = await Daemon.start({ config: cfg, registrations: builtinPlugins(), log });
    } catch (err) {
      log.fatal({ err }, 'berthd failed to start');
      process.stderr.write(`berthd: ${(err as Error).message}\n`);
      process.exit(1);
    }
    if (pending) stop(pending);
  });

const config = program.command('config').description('show the daemon configuration');
config
  .command('default')
  .description('print the default configuration with every plugin table')
  .action(() => {
    process.stdout.write(renderConfig(defaultConfig(), builtinPlugins(), { derived: false }));
  });
config
  .command('dump')
  .description('print the effective configuration (file and flags merged)')
  .action(async () => {
    process.stdout.write(renderConfig(await effective(program.opts<Flags>()), builtinPlugins()));
  });

program.parseAsync(process.argv).catch((err) => {
  process.stderr.write(`berthd: ${(err as Error).message}\n`);
  process.exit(1);
});
