// Flags shared by `berth run` and `berth containers create`: they turn into an
// OCI spec (from the daemon-independent defaults in api/oci) and a container record.

import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { Client } from '../../api/client/client.js';
import type { ContainerHandle } from '../../api/client/container.js';
import {
  type SpecOpt,
  generateDefaultSpec,
  withDefaultPathEnv,
  withEnv,
  withHostname,
  withProcessArgs,
  withProcessCwd,
  withRootfs,
  withTTY,
  withUser,
} from '../../api/oci/index.js';
import { parseLabelArgs } from './output.js';

export interface ContainerFlags {
  rootfs?: string;
  env: string[];
  cwd?: string;
  tty?: boolean;
  runtime: string;
  label: string[];
  hostname?: string;
  user?: string;
  readOnly?: boolean;
}

const collect = (v: string, acc: string[]) => [...acc, v];

export function addContainerFlags(cmd: Command): Command {
  return cmd
    .option('--rootfs <dir>', 'use this directory as the root filesystem')
    .option('--env <KEY=VALUE>', 'set an environment variable (repeatable)', collect, [])
    .option('--cwd <dir>', 'working directory of the process')
    .option('-t, --tty', 'allocate a terminal')
    .option(
      '--runtime <name>',
      'runtime (io.containerd.berth.v2, io.containerd.runc.v2, or a shim path)',
      'io.containerd.berth.v2',
    )
    .option('--label <KEY=VALUE>', 'container label (repeatable)', collect, [])
    .option('--hostname <name>', 'hostname inside the container')
    .option('-u, --user <uid[:gid]>', 'numeric user (and group) of the process')
    .option('--read-only', 'mount the root filesystem read-only');
}

function parseUser(s: string): [number, number] {
  const m = /^(\d+)(?::(\d+))?$/.exec(s);
  if (!m) throw new Error(`--user ${s}: use a numeric uid[:gid]`);
  return [Number(m[1]), Number(m[2] ?? m[1])];
}

/** Creates the container record for `id` running `args`. */
export async function createContainer(
  client: Client,
  id: string,
  args: string[],
  f: ContainerFlags,
): Promise<ContainerHandle> {
  if (!f.rootfs)
    throw new Error('--rootfs DIR is required (image references need the images service)');
  const opts: SpecOpt[] = [
    withRootfs(path.resolve(f.rootfs), f.readOnly ?? false),
    withDefaultPathEnv,
  ];
  if (args.length) opts.push(withProcessArgs(...args));
  if (f.env.length) opts.push(withEnv(f.env));
  if (f.cwd) opts.push(withProcessCwd(f.cwd));
  if (f.tty) {
    const cols = process.stdout.columns;
    const rows = process.stdout.rows;
    opts.push(withTTY(cols && rows ? { width: cols, height: rows } : undefined));
  }
  if (f.hostname) opts.push(withHostname(f.hostname));
  if (f.user) opts.push(withUser(...parseUser(f.user)));
  const spec = generateDefaultSpec({ id, namespace: client.namespace }, opts);
  return client.newContainer({
    id,
    spec: spec as unknown as Record<string, unknown>,
    runtime: f.runtime,
    labels: parseLabelArgs(f.label),
  });
}

/** `9`, `KILL` or `SIGKILL` → 9. */
export function parseSignal(s: string): number {
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n > 0 && n <= 64) return n;
  } else {
    const name = (
      s.toUpperCase().startsWith('SIG') ? s.toUpperCase() : `SIG${s.toUpperCase()}`
    ) as keyof typeof os.constants.signals;
    const n = os.constants.signals[name];
    if (n) return n;
  }
  throw new Error(`unknown signal ${JSON.stringify(s)}`);
}
