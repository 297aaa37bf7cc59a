import { type InitContext, PluginType, pluginTypeRef } from '../daemon/types.js';

/** What a garbage collector plugin offers to synchronous deletes. */
export interface Collector {
  collect(): Promise<unknown>;
}

/** Every garbage collector plugin (type io.berth.gc.v1). */
export const CollectorsRef = pluginTypeRef<Collector>(PluginType.GC);

/**
 * The collect hook for `sync` deletes. The collector is looked up when a
 * delete asks for it, not at init: it depends on the lease manager, so it
 * initialises after it. With no collector registered there is nothing to wait for.
 */
export function collectHook(ctx: Pick<InitContext, 'getAllLater'>): () => Promise<void> {
  const collectors = ctx.getAllLater(CollectorsRef);
  return async () => {
    for (const gc of collectors().values()) await gc.collect();
  };
}
