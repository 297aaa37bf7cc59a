import type { Logger } from 'pino';

// Plugin types are versioned strings; the registry orders plugins by `requires`.
export const PluginType = {
  Metadata: 'io.berth.metadata.v1',
  Event: 'io.berth.event.v1',
  Content: 'io.berth.content.v1',
  Snapshotter: 'io.berth.snapshotter.v1',
  Lease: 'io.berth.lease.v1',
  GC: 'io.berth.gc.v1',
  Service: 'io.berth.service.v1',
  Runtime: 'io.berth.runtime.v2',
  GRPC: 'io.berth.grpc.v1',
  TTRPC: 'io.berth.ttrpc.v1',
  Server: 'io.berth.server.v1',
  Internal: 'io.berth.internal.v1',
} as const;

export type PluginTypeName = (typeof PluginType)[keyof typeof PluginType] | (string & {});

declare const instanceType: unique symbol;

/**
 * A typed handle on one plugin's instance, exported by the plugin that
 * provides it: `ctx.get(TaskManagerRef)` is a TaskManager, and a renamed
 * plugin is a compile error in every user, not a NotFound at startup.
 */
export interface PluginRef<T> {
  readonly type: PluginTypeName;
  readonly id: string;
  /** Never set: carries the instance's type. */
  readonly [instanceType]?: T;
}

/** A typed handle on every instance of one plugin type (e.g. all snapshotters). */
export interface PluginTypeRef<T> {
  readonly type: PluginTypeName;
  readonly [instanceType]?: T;
}

export function pluginRef<T>(type: PluginTypeName, id: string): PluginRef<T> {
  return { type, id };
}

export function pluginTypeRef<T>(type: PluginTypeName): PluginTypeRef<T> {
  return { type };
}

/** The registration of the plugin `ref` names; init must return what the ref promises. */
export function definePlugin<T, C = unknown>(
  ref: PluginRef<T>,
  r: Omit<Registration<C, T>, 'type' | 'id'>,
): Registration<C, T> {
  return { type: ref.type, id: ref.id, ...r };
}

export interface Disposable {
  dispose(): void | Promise<void>;
}

/** What a plugin receives when it is initialised. */
export interface InitContext<C = unknown> {
  readonly type: string;
  readonly id: string;
  /** `<type>.<id>`, the plugin's key in the config's `[plugins]` table. */
  readonly uri: string;
  /** Persistent directory of this plugin, `<root>/<type>.<id>`, created before init. */
  readonly root: string;
  /** Volatile directory of this plugin, `<state>/<type>.<id>`, created before init. */
  readonly state: string;
  /** Daemon-wide settings plugins may need. */
  readonly daemon: DaemonInfo;
  /** Defaults merged with the plugin's TOML table. */
  readonly config: C;
  readonly log: Logger;
  /**
   * Instance of an initialised plugin; throws NotFound if it is missing or
   * failed, and refuses a plugin whose type this one does not list in `requires`.
   */
  get<T>(ref: PluginRef<T>): T;
  /** Every initialised instance of a type listed in `requires`, keyed by id. */
  getAll<T>(ref: PluginTypeRef<T>): Map<string, T>;
  /**
   * Every instance of a type that initialises after this plugin (it may even
   * require this one), looked up on each call; for use after init only.
   */
  getAllLater<T>(ref: PluginTypeRef<T>): () => Map<string, T>;
  /** Run at shutdown, in reverse order of registration. */
  onClose(d: Disposable | (() => void | Promise<void>)): void;
  /** Capabilities and exports shown by introspection. */
  meta: PluginMeta;
  /** Live view of every plugin's record, for introspection. */
  records(): readonly PluginRecord[];
}

export interface DaemonInfo {
  root: string;
  state: string;
  address: string;
  ttrpcAddress: string;
  version: string;
  revision: string;
}

export interface PluginMeta {
  exports: Record<string, string>;
  capabilities: string[];
  platforms: { os: string; architecture: string; variant?: string }[];
}

export interface Registration<C = unknown, T = unknown> {
  type: PluginTypeName;
  id: string;
  /** Plugin types this one needs, and may get; '*' means every other plugin. */
  requires?: string[];
  /** Default configuration, also printed by `berthd config default`. */
  config?: C;
  init(ctx: InitContext<C>): T | Promise<T>;
}

/** Thrown by init when the plugin does not apply on this host; not an error. */
export class SkipPluginError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SkipPluginError';
  }
}

export type PluginState = 'ok' | 'skipped' | 'error' | 'disabled';

/** What introspection reports about one plugin. */
export interface PluginRecord {
  type: string;
  id: string;
  uri: string;
  requires: string[];
  state: PluginState;
  error?: string;
  errorCode?: number;
  meta: PluginMeta;
  instance?: unknown;
}
