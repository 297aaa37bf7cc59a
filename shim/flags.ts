// Command-line parsing in Go `flag` syntax, because the daemon (ours or
// containerd) invokes shims the way containerd-shim-runc-v2 expects:
// `-name value`, `-name=value`, `--name value`, boolean `-debug` / `-debug=false`;
// parsing stops at the first non-flag argument (the subcommand) or at `--`.

export interface ShimFlags {
  namespace: string;
  /** The daemon's gRPC address; `<address>.ttrpc` is its ttrpc events endpoint. */
  address: string;
  publishBinary: string;
  id: string;
  bundle: string;
  /** Socket the long-running server listens on (set by `start` when it spawns the server). */
  socket: string;
  debug: boolean;
  version: boolean;
  /** Remaining arguments: the subcommand (`start`, `delete`) or nothing for the server. */
  args: string[];
}

const stringFlags = {
  namespace: 'namespace',
  address: 'address',
  'publish-binary': 'publishBinary',
  id: 'id',
  bundle: 'bundle',
  socket: 'socket',
} as const;

const boolFlags = { debug: 'debug', v: 'version' } as const;

export class FlagError extends Error {
  override name = 'FlagError';
}

export function parseFlags(argv: readonly string[]): ShimFlags {
  const out: ShimFlags = {
    namespace: '',
    address: '',
    publishBinary: '',
    id: '',
    bundle: '',
    socket: '',
    debug: false,
    version: false,
    args: [],
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (arg.length < 2 || arg[0] !== '-' || arg === '-') break;
    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    if (body.length === 0 || body[0] === '-' || body[0] === '=') {
      throw new FlagError(`bad flag syntax: ${arg}`);
    }
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const inline = eq >= 0 ? body.slice(eq + 1) : undefined;

    if (name in boolFlags) {
      const key = boolFlags[name as keyof typeof boolFlags];
      out[key] = inline === undefined ? true : parseBool(name, inline);
      continue;
    }
    if (name in stringFlags) {
      const key = stringFlags[name as keyof typeof stringFlags];
      let value = inline;
      if (value === undefined) {
        if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: -${name}`);
        value = argv[++i]!;
      }
      out[key] = value;
      continue;
    }
    throw new FlagError(`flag provided but not defined: -${name}`);
  }
  out.args = argv.slice(i);
  return out;
}

function parseBool(name: string, value: string): boolean {
  switch (value) {
    case '1':
    case 't':
    case 'T':
    case 'true':
    case 'TRUE':
    case 'True':
      return true;
    case '0':
    case 'f':
    case 'F':
    case 'false':
    case 'FALSE':
    case 'False':
      return false;
    default:
      throw new FlagError(`invalid boolean value ${JSON.stringify(value)} for -${name}`);
  }
}

/** Server argv in the same syntax, for re-executing ourselves. */
export function formatServerFlags(f: Omit<ShimFlags, 'args' | 'version'>): string[] {
  const out = ['-namespace', f.namespace, '-id', f.id, '-address', f.address];
  if (f.publishBinary) out.push('-publish-binary', f.publishBinary);
  if (f.bundle) out.push('-bundle', f.bundle);
  if (f.socket) out.push('-socket', f.socket);
  if (f.debug) out.push('-debug');
  return out;
}
