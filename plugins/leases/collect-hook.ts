import { type InitContext, PluginType } from '../daemon/types.js';

/** What a garbage collector plugin offers to synchronous deletes. */
export interface Collector {
  collect(): Promise<unknown>;
}

function isCollector(v: unknown): v is Collector {
  return typeof (v as Collector | undefined)?.collect === 'function';
}

/**
 * The collect hook for `sync` deletes. The collector is looked up when a
 * delete asks for it, not at init: it depends on the lease manager, so it
 * initialises after it. With no collector registered there is nothing to wait for.
 */
export function collectHook(ctx: Pick<InitContext, 'getAll'>): () => Promise<void> {
  return async () => {
    for (const gc of ctx.getAll<unknown>(PluginType.GC).values()) {
      if (isCollector(gc)) await gc.collect();
    }
  };
}
