// Flags shared by `berth run` and `berth containers create`: they turn into an
// OCI spec (from the daemon-independent defaults in core/oci) and a container record.

import path from 'node:path';
import type { Command } from 'commander';
import { isNotFound } from '../../core/errors/catalogue.js';
import type { Client } from '../../client/client.js';
import type { ContainerHandle } from '../../client/container.js';
import { ensureImage } from '../../client/ensure-image.js';
import { newContainerFromImage } from '../../client/image.js';
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
} from '../../core/oci/index.js';
import { signalByName } from '../../core/oci/signals.js';
import { parseLabelArgs } from './output.js';
import { UsageError } from './exit-codes.js';

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
  snapshotter?: string;
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
    .option('--read-only', 'mount the root filesystem read-only')
    .option('--snapshotter <name>', 'snapshotter for an image rootfs (default overlayfs)');
}

function parseUser(s: string): [number, number] {
  const m = /^(\d+)(?::(\d+))?$/.exec(s);
  if (!m) throw new UsageError(`--user ${s}: use a numeric uid[:gid]`);
  return [Number(m[1]), Number(m[2] ?? m[1])];
}

/**
 * The positionals of `run`/`containers create`: `ID [CMD…]` with --rootfs,
 * `IMAGE ID [CMD…]` without.
 */
export function splitRunArgs(
  first: string,
  rest: string[],
  f: Pick<ContainerFlags, 'rootfs'>,
): { image?: string; id: string; args: string[] } {
  if (f.rootfs) return { id: first, args: rest };
  const [id, ...args] = rest;
  if (!id) throw new UsageError('usage: IMAGE ID [COMMAND…] (or --rootfs DIR ID [COMMAND…])');
  return { image: first, id, args };
}

/** Flag options shared by both kinds of rootfs. */
function processOpts(args: string[], f: ContainerFlags): SpecOpt[] {
  const opts: SpecOpt[] = [];
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
  return opts;
}

/** A container on a new snapshot of a local image (pulled first once pulling is wired in). */
async function createFromImage(
  client: Client,
  image: string,
  id: string,
  args: string[],
  f: ContainerFlags,
): Promise<ContainerHandle> {
  const img = await ensureImage(client, image);
  const opts = processOpts(args, f);
  if (f.readOnly)
    opts.push((s) => void (s.root = { path: s.root?.path ?? 'rootfs', readonly: true }));
  return newContainerFromImage(client, {
    id,
    image: img,
    snapshotter: f.snapshotter,
    specOpts: opts,
    runtime: f.runtime,
    labels: parseLabelArgs(f.label),
  });
}

/** Deletes the container and, for an image container, its snapshot (as `ctr run --rm` does). */
export async function deleteContainerAndSnapshot(
  client: Client,
  ctr: ContainerHandle,
): Promise<void> {
  await ctr.delete();
  const { snapshotter, snapshotKey } = ctr.record;
  if (!snapshotKey) return;
  try {
    await client.snapshots(snapshotter || undefined).remove(snapshotKey);
  } catch (err) {
    // The collector may have taken it already: the container no longer references it.
    if (!isNotFound(err)) throw err;
  }
}

/** Creates the container record for `id` running `args`, on `--rootfs` or on `image`. */
export async function createContainer(
  client: Client,
  id: string,
  args: string[],
  f: ContainerFlags,
  image?: string,
): Promise<ContainerHandle> {
  if (image) return createFromImage(client, image, id, args, f);
  if (!f.rootfs) throw new UsageError('--rootfs DIR or an image is required');
  const opts: SpecOpt[] = [
    withRootfs(path.resolve(f.rootfs), f.readOnly ?? false),
    withDefaultPathEnv,
    ...processOpts(args, f),
  ];
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
  const n = signalByName(s);
  if (n === undefined) throw new UsageError(`unknown signal ${JSON.stringify(s)}`);
  return n;
}
