// Flags shared by the commands that talk to registries (images pull/push,
// content fetch), turned into registry options.

import type { Command } from 'commander';
import type { RegistryOptions } from '../../core/images/registry/repository.js';
import { DEFAULT_HOSTS_DIR } from '../../core/images/registry/hosts.js';
import { UsageError } from './exit-codes.js';

export interface RegistryFlags {
  plainHttp?: boolean;
  hostsDir?: string;
  user?: string;
  stallTimeout?: number;
  maxConcurrent?: number;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`invalid number ${JSON.stringify(v)}`);
  return n;
}

export function addRegistryFlags(cmd: Command, transfers: 'downloads' | 'uploads'): Command {
  return cmd
    .option('--plain-http', 'talk HTTP, not HTTPS, to hosts without an explicit scheme')
    .option(
      '--hosts-dir <dir>',
      `directory of <host>/hosts.toml files (env BERTH_HOSTS_DIR, default ${DEFAULT_HOSTS_DIR})`,
    )
    .option(
      '-u, --user <user[:password]>',
      'registry credentials (password also from env BERTH_REGISTRY_PASSWORD)',
    )
    .option(
      '--stall-timeout <seconds>',
      'fail a transfer that receives nothing this long',
      positiveInt,
    )
    .option(`--max-concurrent <n>`, `parallel ${transfers} (default 3)`, positiveInt);
}

export function registryOptions(f: RegistryFlags): RegistryOptions {
  const opts: RegistryOptions = {
    plainHttp: f.plainHttp,
    hostsDir: f.hostsDir ?? process.env.BERTH_HOSTS_DIR,
    stallTimeoutMs: f.stallTimeout ? f.stallTimeout * 1000 : undefined,
  };
  if (f.user) {
    const i = f.user.indexOf(':');
    const username = i < 0 ? f.user : f.user.slice(0, i);
    const secret = i < 0 ? (process.env.BERTH_REGISTRY_PASSWORD ?? '') : f.user.slice(i + 1);
    if (!username) throw new UsageError('--user needs a user name');
    opts.credentials = () => ({ username, secret });
  }
  return opts;
}
