import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'smol-toml';
import { errInvalidArgument } from '../../core/errors/catalogue.js';
import { tracesUrl } from '../../core/tracing/otlp-exporter.js';
import { parseListenAddress } from '../metrics/endpoint.js';
import { effectiveConfig, pluginUri } from './registry.js';
import type { Registration } from './types.js';

/** The daemon's configuration file (TOML), containerd's shape with Berth's defaults. */
export interface DaemonConfig {
  version: number;
  root: string;
  state: string;
  required_plugins: string[];
  disabled_plugins: string[];
  grpc: { address: string; uid: number; gid: number };
  ttrpc: { address: string };
  debug: { level: string };
  /** Prometheus endpoint: `host:port` or a unix socket path; off when empty. */
  metrics: { address: string };
  /** OTLP/HTTP collector for spans; off when `endpoint` is empty. */
  tracing: { endpoint: string; sampling_ratio: number; service_name: string };
  plugins: Record<string, unknown>;
}

export const DEFAULT_ROOT = '/var/lib/berth';
export const DEFAULT_STATE = '/run/berth';
export const DEFAULT_ADDRESS = '/run/berth/berth.sock';

export function defaultConfig(): DaemonConfig {
  return {
    version: 1,
    root: DEFAULT_ROOT,
    state: DEFAULT_STATE,
    required_plugins: [],
    disabled_plugins: [],
    grpc: { address: DEFAULT_ADDRESS, uid: 0, gid: 0 },
    ttrpc: { address: '' },
    debug: { level: 'info' },
    metrics: { address: '' },
    tracing: { endpoint: '', sampling_ratio: 1, service_name: 'berthd' },
    plugins: {},
  };
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Validates and normalises a parsed TOML document into a DaemonConfig. */
export function normaliseConfig(doc: Record<string, unknown>, source = 'config'): DaemonConfig {
  const cfg = defaultConfig();
  const bad = (what: string) => errInvalidArgument(`${source}: ${what}`);
  const known = new Set(Object.keys(cfg));
  for (const k of Object.keys(doc)) if (!known.has(k)) throw bad(`unknown key "${k}"`);

  if (doc.version !== undefined) {
    if (doc.version !== 1) throw bad(`unsupported config version ${String(doc.version)} (want 1)`);
  }
  const str = (v: unknown, what: string) => {
    if (typeof v !== 'string') throw bad(`${what} must be a string`);
    return v;
  };
  const strList = (v: unknown, what: string) => {
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
      throw bad(`${what} must be a list of strings`);
    }
    return v as string[];
  };
  const table = (v: unknown, what: string) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw bad(`${what} must be a table`);
    return v as Record<string, unknown>;
  };
  if (doc.root !== undefined) cfg.root = str(doc.root, 'root');
  if (doc.state !== undefined) cfg.state = str(doc.state, 'state');
  for (const [k, v] of [
    ['root', cfg.root],
    ['state', cfg.state],
  ] as const) {
    if (!path.isAbsolute(v)) throw bad(`${k} must be an absolute path`);
  }
  if (doc.required_plugins !== undefined) {
    cfg.required_plugins = strList(doc.required_plugins, 'required_plugins');
  }
  if (doc.disabled_plugins !== undefined) {
    cfg.disabled_plugins = strList(doc.disabled_plugins, 'disabled_plugins');
  }
  if (doc.grpc !== undefined) {
    const g = table(doc.grpc, 'grpc');
    if (g.address !== undefined) cfg.grpc.address = str(g.address, 'grpc.address');
    for (const k of ['uid', 'gid'] as const) {
      if (g[k] !== undefined) {
        if (!Number.isInteger(g[k]) || (g[k] as number) < 0) throw bad(`grpc.${k} must be >= 0`);
        cfg.grpc[k] = g[k] as number;
      }
    }
  }
  if (doc.ttrpc !== undefined) {
    const t = table(doc.ttrpc, 'ttrpc');
    if (t.address !== undefined) cfg.ttrpc.address = str(t.address, 'ttrpc.address');
  }
  if (doc.debug !== undefined) {
    const d = table(doc.debug, 'debug');
    if (d.level !== undefined) {
      const level = str(d.level, 'debug.level');
      if (!LEVELS.includes(level)) throw bad(`debug.level must be one of ${LEVELS.join(', ')}`);
      cfg.debug.level = level;
    }
  }
  if (doc.metrics !== undefined) {
    const m = table(doc.metrics, 'metrics');
    if (m.address !== undefined) cfg.metrics.address = str(m.address, 'metrics.address');
    if (cfg.metrics.address) {
      try {
        parseListenAddress(cfg.metrics.address);
      } catch (err) {
        throw bad((err as Error).message);
      }
    }
  }
  if (doc.tracing !== undefined) {
    const t = table(doc.tracing, 'tracing');
    if (t.endpoint !== undefined) cfg.tracing.endpoint = str(t.endpoint, 'tracing.endpoint');
    if (cfg.tracing.endpoint) {
      try {
        tracesUrl(cfg.tracing.endpoint);
      } catch (err) {
        throw bad(`tracing.endpoint: ${(err as Error).message}`);
      }
    }
    if (t.sampling_ratio !== undefined) {
      const r = t.sampling_ratio;
      if (typeof r !== 'number' || !(r >= 0 && r <= 1)) {
        throw bad('tracing.sampling_ratio must be a number from 0 to 1');
      }
      cfg.tracing.sampling_ratio = r;
    }
    if (t.service_name !== undefined) {
      cfg.tracing.service_name = str(t.service_name, 'tracing.service_name');
    }
  }
  if (doc.plugins !== undefined) cfg.plugins = table(doc.plugins, 'plugins');
  return cfg;
}

export async function loadConfigFile(file: string): Promise<DaemonConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw errInvalidArgument(`cannot read config ${file}: ${(err as Error).message}`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (err) {
    throw errInvalidArgument(`config ${file}: ${(err as Error).message}`);
  }
  return normaliseConfig(doc, file);
}

export function ttrpcAddressOf(cfg: DaemonConfig): string {
  return cfg.ttrpc.address || `${cfg.grpc.address}.ttrpc`;
}

/**
 * Renders a config as TOML with every plugin's effective table, so
 * `berthd config default` documents all options and `config dump` shows what is in force.
 * `derived: false` (for `config default`) leaves addresses derived from others
 * empty, so a config written from it follows its own `grpc.address`.
 */
export function renderConfig(
  cfg: DaemonConfig,
  regs: Registration[],
  opts: { derived?: boolean } = {},
): string {
  const plugins: Record<string, unknown> = {};
  for (const reg of regs) {
    const eff = effectiveConfig(reg, cfg.plugins);
    if (eff !== undefined) plugins[pluginUri(reg)] = eff;
  }
  // Tables for plugins we do not know are kept, so a dump round-trips.
  for (const [k, v] of Object.entries(cfg.plugins)) if (!(k in plugins)) plugins[k] = v;
  const ttrpc = { address: opts.derived === false ? cfg.ttrpc.address : ttrpcAddressOf(cfg) };
  return stringify({ ...cfg, ttrpc, plugins }) + '\n';
}
