// Per-registry host configuration in containerd's `hosts.toml` layout:
//
//   <dir>/<registry host>/hosts.toml   (e.g. /etc/berth/certs.d/docker.io/hosts.toml)
//   <dir>/_default/hosts.toml          (for registries without their own directory)
//
// The file names the upstream `server` and any number of `[host."…"]`
// entries (mirrors), tried in file order before the server.

import fs from 'node:fs/promises';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { errInvalidArgument } from '../../errors/catalogue.js';
import { DEFAULT_DOMAIN } from './reference.js';

export const DEFAULT_HOSTS_DIR = '/etc/berth/certs.d';
export const HOSTS_FILE = 'hosts.toml';
export const DEFAULT_HOSTS_SUBDIR = '_default';

export type Capability = 'pull' | 'resolve' | 'push';
export const ALL_CAPABILITIES: readonly Capability[] = ['pull', 'resolve', 'push'];

export interface RegistryHost {
  scheme: 'http' | 'https';
  /** host[:port] to connect to. */
  host: string;
  /** API root path, `/v2` unless the config overrides it. */
  path: string;
  capabilities: Capability[];
  /** Accept any TLS certificate. */
  skipVerify: boolean;
  /** Extra CA certificate files (absolute paths). */
  caFiles: string[];
  /** Headers sent with every request to this host. */
  header: Record<string, string>;
  /** The registry named by the reference (false for mirrors). */
  upstream: boolean;
}

export interface HostsOptions {
  /** Directory holding `<host>/hosts.toml`; default /etc/berth/certs.d. */
  hostsDir?: string;
  /** Hosts without an explicit scheme (and the default host) use http. */
  plainHttp?: boolean;
}

/** The upstream for a registry name; Docker Hub's API lives on another host. */
export function defaultServer(registry: string, plainHttp = false): string {
  if (registry === DEFAULT_DOMAIN) return 'https://registry-1.docker.io';
  return `${plainHttp ? 'http' : 'https'}://${registry}`;
}

/** The single host used when no hosts.toml applies. */
export function defaultHosts(registry: string, plainHttp = false): RegistryHost[] {
  return [hostFromURL(defaultServer(registry, plainHttp), {}, plainHttp, '', true)];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function stringList(v: unknown, what: string): string[] {
  if (v === undefined) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  throw errInvalidArgument(`hosts.toml: ${what} must be a string or a list of strings`);
}

function hostFromURL(
  raw: string,
  table: Record<string, unknown>,
  plainHttp: boolean,
  dir: string,
  upstream: boolean,
): RegistryHost {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw)
    ? raw
    : `${plainHttp ? 'http' : 'https'}://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw errInvalidArgument(`hosts.toml: invalid host ${JSON.stringify(raw)}`);
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== 'http' && scheme !== 'https') {
    throw errInvalidArgument(`hosts.toml: unsupported scheme ${JSON.stringify(scheme)} in ${raw}`);
  }
  let p = url.pathname.replace(/\/+$/, '');
  if (table.override_path !== true) {
    if (!p.endsWith('/v2')) p += '/v2';
  }
  const caps =
    table.capabilities === undefined
      ? [...ALL_CAPABILITIES]
      : stringList(table.capabilities, 'capabilities');
  for (const c of caps) {
    if (!ALL_CAPABILITIES.includes(c as Capability)) {
      throw errInvalidArgument(`hosts.toml: unknown capability ${JSON.stringify(c)} for ${raw}`);
    }
  }
  // No prototype: a header named `__proto__` would otherwise be dropped.
  const header: Record<string, string> = Object.create(null);
  if (table.header !== undefined) {
    if (!isRecord(table.header))
      throw errInvalidArgument(`hosts.toml: header of ${raw} must be a table`);
    for (const [k, v] of Object.entries(table.header)) {
      header[k] = Array.isArray(v) ? v.map(String).join(', ') : String(v);
    }
  }
  if (table.skip_verify !== undefined && typeof table.skip_verify !== 'boolean') {
    throw errInvalidArgument(`hosts.toml: skip_verify of ${raw} must be true or false`);
  }
  return {
    scheme,
    host: url.host,
    path: p,
    capabilities: caps as Capability[],
    skipVerify: table.skip_verify === true,
    caFiles: stringList(table.ca, 'ca').map((f) => path.resolve(dir, f)),
    header,
    upstream,
  };
}

/**
 * Hosts from one hosts.toml text, mirrors first (in file order), the server
 * last. `dir` resolves relative CA paths.
 */
export function parseHostsToml(
  text: string,
  registry: string,
  opts: { dir?: string; plainHttp?: boolean } = {},
): RegistryHost[] {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw errInvalidArgument(`hosts.toml for ${registry}: ${(err as Error).message}`);
  }
  const plain = opts.plainHttp ?? false;
  const dir = opts.dir ?? '';
  const out: RegistryHost[] = [];
  if (doc.host !== undefined) {
    if (!isRecord(doc.host)) throw errInvalidArgument('hosts.toml: host must be a table');
    for (const [name, table] of Object.entries(doc.host)) {
      if (!isRecord(table)) throw errInvalidArgument(`hosts.toml: host ${name} must be a table`);
      out.push(hostFromURL(name, table, plain, dir, false));
    }
  }
  if (doc.server !== undefined && typeof doc.server !== 'string') {
    throw errInvalidArgument('hosts.toml: server must be a string');
  }
  const server = (doc.server as string | undefined) ?? defaultServer(registry, plain);
  out.push(hostFromURL(server, doc, plain, dir, true));
  return out;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Hosts for a registry (`docker.io`, `127.0.0.1:5000`): from its hosts.toml,
 * else `_default/hosts.toml`, else the registry itself.
 */
export async function loadHosts(
  registry: string,
  opts: HostsOptions = {},
): Promise<RegistryHost[]> {
  const root = opts.hostsDir ?? DEFAULT_HOSTS_DIR;
  for (const sub of [registry, DEFAULT_HOSTS_SUBDIR]) {
    // A host name never contains a path separator; refuse one that does.
    if (sub.includes('/') || sub === '..' || sub === '.') continue;
    const dir = path.join(root, sub);
    const text = await readIfExists(path.join(dir, HOSTS_FILE));
    if (text !== undefined)
      return parseHostsToml(text, registry, { dir, plainHttp: opts.plainHttp });
  }
  return defaultHosts(registry, opts.plainHttp);
}

/** The hosts that may be used for an operation, in order. */
export function hostsWith(hosts: RegistryHost[], cap: Capability): RegistryHost[] {
  return hosts.filter((h) => h.capabilities.includes(cap));
}

/** Base URL of the API on a host (`https://mirror.example/v2`). */
export function apiBase(h: RegistryHost): string {
  return `${h.scheme}://${h.host}${h.path}`;
}
