import { GCService } from '../../api/gen/berth/gc/v1/gc.js';
import { ContentStoreRef } from '../content/plugin.js';
import { definePlugin, PluginType, pluginRef, type Registration } from '../daemon/types.js';
import { ExchangeRef } from '../events/plugin.js';
import { LeaseManagerRef } from '../leases/plugin.js';
import { MetadataRef } from '../metadata/plugin.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { SnapshottersRef } from '../snapshots/plugin.js';
import { Collector } from '../../core/metadata/gc/collector.js';
import { DEFAULT_GC_CONFIG, type GCSchedulerConfig, parseSchedulerConfig } from './config.js';
import { GCScheduler } from './scheduler.js';
import { GCLocal } from './service.js';

/** Events after which something may have become garbage. */
export const DELETION_TOPICS = [
  '/images/delete',
  '/containers/delete',
  '/content/delete',
  '/snapshot/remove',
  '/namespaces/delete',
];

export const GCSchedulerRef = pluginRef<GCScheduler>(PluginType.GC, 'scheduler');
export const GCServiceRef = pluginRef<GCLocal>(PluginType.Service, 'gc-service');

/**
 * The garbage collector and its scheduler. Its instance offers `collect()`,
 * which the leases and images plugins' collect hook calls for `sync` deletes.
 */
export const gcSchedulerPlugin = definePlugin(GCSchedulerRef, {
  requires: [
    PluginType.Metadata,
    PluginType.Event,
    PluginType.Content,
    PluginType.Lease,
    PluginType.Snapshotter,
  ],
  config: { ...DEFAULT_GC_CONFIG } as GCSchedulerConfig,
  init(ctx) {
    const settings = parseSchedulerConfig(ctx.config);
    const db = ctx.get(MetadataRef);
    const collector = new Collector({
      db,
      leases: ctx.get(LeaseManagerRef),
      content: ctx.get(ContentStoreRef),
      snapshotters: ctx.getAll(SnapshottersRef),
      ingestExpiryMs: settings.ingestExpiryMs,
      log: ctx.log,
    });
    const scheduler = new GCScheduler(collector, settings, ctx.log);

    // A lease change may release what it held (leases publish no events).
    const unlisten = db.onMutation((e) => {
      if (e.kind === 'leases') scheduler.deletion();
      scheduler.mutation();
    });
    const exchange = ctx.get(ExchangeRef);
    const subscription = exchange.subscribe(
      DELETION_TOPICS.map((t) => `topic==${JSON.stringify(t)}`),
    );
    const consumed = (async () => {
      try {
        for await (const _ of subscription) scheduler.deletion();
      } catch (err) {
        ctx.log.warn({ err }, 'gc: deletion events subscription ended');
      }
    })();

    scheduler.start();
    ctx.onClose(async () => {
      unlisten();
      subscription.close();
      await consumed;
      await scheduler.stop();
      await collector.idle();
    });
    return scheduler;
  },
});

export const gcServicePlugin = definePlugin(GCServiceRef, {
  requires: [PluginType.GC],
  init: (ctx) => new GCLocal(ctx.get(GCSchedulerRef)),
});

export const gcGrpcPlugin = grpcAdapterPlugin('gc', GCService, GCServiceRef);

/** Every GC registration, in the order builtinPlugins() should list them. */
export const gcPlugins: Registration[] = [
  gcSchedulerPlugin as Registration,
  gcServicePlugin as Registration,
  gcGrpcPlugin as Registration,
];
