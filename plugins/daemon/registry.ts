import { ensurePrivateDir } from './private-dir.js';
import path from 'node:path';
import type { Logger } from 'pino';
import { BerthError, errNotFound } from '../../core/errors/catalogue.js';
import {
  type DaemonInfo,
  type Disposable,
  type InitContext,
  type PluginMeta,
  type PluginRecord,
  type PluginRef,
  type PluginTypeRef,
  type Registration,
  SkipPluginError,
} from './types.js';

export type { PluginRecord, PluginState } from './types.js';

export const pluginUri = (r: { type: string; id: string }) => `${r.type}.${r.id}`;

/**
 * Orders registrations so every plugin comes after the types it requires.
 * Registration order breaks ties, so the result is deterministic. Duplicates,
 * unknown requirements and cycles are programming errors and throw.
 */
export function orderRegistrations(regs: Registration[]): Registration[] {
  const seen = new Set<string>();
  for (const r of regs) {
    const uri = pluginUri(r);
    if (seen.has(uri)) throw new Error(`plugin ${uri} registered twice`);
    seen.add(uri);
  }
  const byType = new Map<string, Registration[]>();
  for (const r of regs) byType.set(r.type, [...(byType.get(r.type) ?? []), r]);

  const deps = (r: Registration): Registration[] => {
    const out: Registration[] = [];
    for (const t of r.requires ?? []) {
      if (t === '*') {
        out.push(...regs.filter((o) => o !== r && !(o.requires ?? []).includes('*')));
        continue;
      }
      out.push(...(byType.get(t) ?? []).filter((o) => o !== r));
    }
    return out;
  };

  const ordered: Registration[] = [];
  const mark = new Map<Registration, 'visiting' | 'done'>();
  const visit = (r: Registration, trail: string[]) => {
    const m = mark.get(r);
    if (m === 'done') return;
    if (m === 'visiting') {
      throw new Error(`plugin dependency cycle: ${[...trail, pluginUri(r)].join(' -> ')}`);
    }
    mark.set(r, 'visiting');
    for (const d of deps(r)) visit(d, [...trail, pluginUri(r)]);
    mark.set(r, 'done');
    ordered.push(r);
  };
  for (const r of regs) visit(r, []);
  return ordered;
}

export interface InitOptions {
  daemon: DaemonInfo;
  /** The `[plugins]` table of the config, keyed by `<type>.<id>`. */
  pluginConfig: Record<string, unknown>;
  requiredPlugins: string[];
  disabledPlugins: string[];
  log: Logger;
  /** Per-plugin init limit, so a hung plugin cannot hang startup. */
  initTimeoutMs?: number;
}

/** The initialised plugin set: lookups for plugins and shutdown for the daemon. */
export class PluginSet {
  readonly records: PluginRecord[] = [];
  private readonly closers: Array<() => void | Promise<void>> = [];

  get<T>(ref: PluginRef<T>): T {
    const { type, id } = ref;
    const rec = this.records.find((r) => r.type === type && r.id === id && r.state === 'ok');
    if (!rec) {
      const failed = this.records.find((r) => r.type === type && r.id === id);
      const why = failed ? ` (${failed.state}${failed.error ? `: ${failed.error}` : ''})` : '';
      throw errNotFound(`plugin ${type}.${id}${why}`);
    }
    return rec.instance as T;
  }

  getAll<T>(ref: PluginTypeRef<T>): Map<string, T> {
    const out = new Map<string, T>();
    for (const r of this.records)
      if (r.type === ref.type && r.state === 'ok') out.set(r.id, r.instance as T);
    return out;
  }

  instances(): unknown[] {
    return this.records.filter((r) => r.state === 'ok').map((r) => r.instance);
  }

  addCloser(fn: () => void | Promise<void>) {
    this.closers.push(fn);
  }

  /** Dispose in reverse order of creation; one failure does not stop the rest. */
  async close(log?: Logger): Promise<void> {
    while (this.closers.length) {
      const fn = this.closers.pop()!;
      try {
        await fn();
      } catch (err) {
        log?.warn({ err }, 'plugin close failed');
      }
    }
  }
}

function mergeConfig<C>(defaults: C | undefined, table: unknown): C {
  if (table === undefined) return structuredClone(defaults) as C;
  if (defaults === undefined || typeof defaults !== 'object' || defaults === null)
    return table as C;
  const out: Record<string, unknown> = structuredClone(defaults) as Record<string, unknown>;
  for (const [k, v] of Object.entries(table as Record<string, unknown>)) {
    const d = out[k];
    out[k] =
      d &&
      typeof d === 'object' &&
      !Array.isArray(d) &&
      v &&
      typeof v === 'object' &&
      !Array.isArray(v)
        ? mergeConfig(d, v)
        : v;
  }
  return out as C;
}

/** Effective config of one plugin (defaults merged with its TOML table). */
export function effectiveConfig(reg: Registration, pluginConfig: Record<string, unknown>): unknown {
  return mergeConfig(reg.config, pluginConfig[pluginUri(reg)]);
}

/** `ref` if `reg` lists its type in `requires`; a plugin gets only what it waits for. */
function checkRequired<R extends { type: string }>(reg: Registration, ref: R, what: string): R {
  const requires = reg.requires ?? [];
  if (!requires.includes(ref.type) && !requires.includes('*')) {
    throw new Error(
      `plugin ${pluginUri(reg)} uses ${what} but does not list ${ref.type} in requires`,
    );
  }
  return ref;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: init timed out after ${ms} ms`)), ms);
      timer.unref();
    }),
  ]);
}

/**
 * Initialises plugins in dependency order. A plugin that throws SkipPluginError
 * is recorded as skipped; any other failure is recorded and is fatal only if the
 * plugin is listed in required_plugins. Plugins whose requirements failed are
 * recorded as errors too.
 */
export async function initPlugins(regs: Registration[], opts: InitOptions): Promise<PluginSet> {
  const set = new PluginSet();
  const ordered = orderRegistrations(regs);
  const timeout = opts.initTimeoutMs ?? 60_000;

  for (const reg of ordered) {
    const uri = pluginUri(reg);
    const meta: PluginMeta = {
      exports: {},
      capabilities: [],
      platforms: [{ os: 'linux', architecture: goArch(process.arch) }],
    };
    const rec: PluginRecord = {
      type: reg.type,
      id: reg.id,
      uri,
      requires: reg.requires ?? [],
      state: 'ok',
      meta,
    };
    set.records.push(rec);

    if (opts.disabledPlugins.includes(uri)) {
      rec.state = 'disabled';
      rec.error = 'disabled in configuration';
      continue;
    }
    const missing = (reg.requires ?? [])
      .filter((t) => t !== '*')
      .filter((t) => !set.records.some((r) => r.type === t && r.state === 'ok'));
    if (missing.length) {
      rec.state = 'skipped';
      rec.error = `required plugin type not available: ${missing.join(', ')}`;
      opts.log.info({ plugin: uri, reason: rec.error }, 'plugin skipped');
      continue;
    }

    const root = path.join(opts.daemon.root, uri);
    const state = path.join(opts.daemon.state, uri);
    const log = opts.log.child({ plugin: uri });
    const ctx: InitContext = {
      type: reg.type,
      id: reg.id,
      uri,
      root,
      state,
      daemon: opts.daemon,
      config: effectiveConfig(reg, opts.pluginConfig),
      log,
      meta,
      get: (ref) => set.get(checkRequired(reg, ref, `${ref.type}.${ref.id}`)),
      getAll: (ref) => set.getAll(checkRequired(reg, ref, ref.type)),
      getAllLater: (ref) => () => set.getAll(ref),
      records: () => set.records,
      onClose: (d: Disposable | (() => void | Promise<void>)) =>
        set.addCloser(typeof d === 'function' ? d : () => d.dispose()),
    };
    const started = performance.now();
    try {
      await ensurePrivateDir(root, 0o700);
      await ensurePrivateDir(state, 0o700);
      rec.instance = await withTimeout(Promise.resolve(reg.init(ctx)), timeout, uri);
      log.debug({ ms: Math.round(performance.now() - started) }, 'plugin initialised');
    } catch (err) {
      if (err instanceof SkipPluginError) {
        rec.state = 'skipped';
        rec.error = err.message;
        log.info({ reason: err.message }, 'plugin skipped');
        continue;
      }
      rec.state = 'error';
      rec.error = err instanceof Error ? err.message : String(err);
      rec.errorCode = err instanceof BerthError ? err.status : 2;
      log.warn({ err }, 'plugin failed to initialise');
    }
  }

  for (const req of opts.requiredPlugins) {
    const rec = set.records.find((r) => r.uri === req);
    if (!rec || rec.state !== 'ok') {
      await set.close(opts.log);
      throw new Error(
        `required plugin ${req} ${rec ? `is ${rec.state}: ${rec.error ?? ''}` : 'is not registered'}`,
      );
    }
  }
  return set;
}

/** Go's GOARCH names, which ctr and containerd clients expect in platforms. */
export function goArch(arch: string): string {
  switch (arch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return '386';
    default:
      return arch;
  }
}
