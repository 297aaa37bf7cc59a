// Where runc keeps its container state for this daemon's tasks. runc's state
// root is host-wide by default (/run/berth/runc), so a second daemon running a
// container with the same namespace and id would find the first one's state:
// its create fails ("already exists") and its clean-up deletes the other's
// container. The daemon therefore names a root under its own state directory in
// the runc options of every create, which Berth's shim and containerd's runc
// shim both honour (containerd.runc.v1.Options.root) and persist for `delete`.

import { Options } from '../../api/gen/containerd/runc/v1/oci.js';
import type { Any } from '../../api/gen/google/protobuf/any.js';
import { packAny, stripPrefix, unpackAny } from '../protobuf/typeurl.js';

export const RUNC_OPTIONS_TYPE_URL = 'containerd.runc.v1.Options';

/** Runtimes whose shims take runc options (besides Berth's own, found by binary). */
const RUNC_RUNTIMES = new Set(['io.containerd.runc.v2', 'io.containerd.runc.v1']);

export function takesRuncOptions(runtime: string, berthShim: boolean): boolean {
  return berthShim || RUNC_RUNTIMES.has(runtime);
}

/**
 * `options` with runc's root set to `root` where the caller left it empty;
 * options of another type, or with a root of their own, pass unchanged.
 */
export function withRuncRoot(options: Any | undefined, root: string): Any | undefined {
  if (options && stripPrefix(options.typeUrl) !== RUNC_OPTIONS_TYPE_URL) return options;
  const opts = unpackAny(options, RUNC_OPTIONS_TYPE_URL, Options) ?? Options.fromJSON({});
  if (opts.root) return options;
  return packAny(RUNC_OPTIONS_TYPE_URL, Options, { ...opts, root });
}
