// runc runtime options (containerd.runc.v1.Options): from CreateTaskRequest.options,
// persisted as <bundle>/options.json (and <bundle>/runtime, the runc binary) so
// the `delete` subcommand can find runc's state root with no server running.

import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Any } from '../api/gen/google/protobuf/any.js';
import { Options } from '../api/gen/containerd/runc/v1/oci.js';
import { unpackAny } from '../core/protobuf/typeurl.js';
import { RUNC_ROOT } from '../core/runtime/address.js';

export const OPTIONS_TYPE_URL = 'containerd.runc.v1.Options';

export type RuncOptions = Options;

export function defaultOptions(): Options {
  return Options.fromJSON({});
}

export function optionsFromAny(any: Any | undefined): Options {
  return unpackAny(any, OPTIONS_TYPE_URL, Options) ?? defaultOptions();
}

/** runc's state root for a namespace: `<options.root or /run/berth/runc>/<ns>`, as the reference shim does. */
export function runcRoot(opts: Options, namespace: string): string {
  return path.join(opts.root || RUNC_ROOT, namespace);
}

export function runcBinary(opts: Options): string {
  return opts.binaryName || 'runc';
}

// The JSON field names the reference shim writes (the proto names).
export async function writeOptions(bundle: string, opts: Options): Promise<void> {
  const json: Record<string, unknown> = {};
  if (opts.noPivotRoot) json.no_pivot_root = true;
  if (opts.noNewKeyring) json.no_new_keyring = true;
  if (opts.shimCgroup) json.shim_cgroup = opts.shimCgroup;
  if (opts.ioUid) json.io_uid = opts.ioUid;
  if (opts.ioGid) json.io_gid = opts.ioGid;
  if (opts.binaryName) json.binary_name = opts.binaryName;
  if (opts.root) json.root = opts.root;
  if (opts.systemdCgroup) json.systemd_cgroup = true;
  if (opts.criuPath) json.criu_path = opts.criuPath;
  if (opts.criuImagePath) json.criu_image_path = opts.criuImagePath;
  if (opts.criuWorkPath) json.criu_work_path = opts.criuWorkPath;
  await writeFile(path.join(bundle, 'options.json'), JSON.stringify(json), { mode: 0o600 });
  await writeFile(path.join(bundle, 'runtime'), runcBinary(opts), { mode: 0o600 });
}

/** Options saved by Create; defaults when the file is missing (Create never ran). */
export function readOptions(bundle: string): Options {
  try {
    const json = JSON.parse(readFileSync(path.join(bundle, 'options.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    return Options.fromJSON(json);
  } catch {
    return defaultOptions();
  }
}
