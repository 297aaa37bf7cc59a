import { GCService } from '../../api/gen/berth/gc/v1/gc.js';
import type { Snapshotter } from '../../core/snapshots/types.js';
import type { ContentMetadataStore } from '../../core/metadata/content.js';
import type { Exchange } from '../../core/events/exchange.js';
import { PluginType, type Registration } from '../daemon/types.js';
import type { LeaseStore } from '../../core/metadata/leases.js';
import type { MetadataDB } from '../../core/metadata/db.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
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

/**
 * The garbage collector and its scheduler. Its instance offers `collect()`,
 * which the leases and images plugins' collect hook calls for `sync` deletes.
 */
export const gcSchedulerPlugin: Registration<GCSchedulerConfig, GCScheduler> = {
  type: PluginType.GC,
  id: 'scheduler',
  requires: [
    PluginType.Metadata,
    PluginType.Event,
    PluginType.Content,
    PluginType.Lease,
    PluginType.Snapshotter,
  ],
  config: { ...DEFAULT_GC_CONFIG },
  init(ctx) {
    const settings = parseSchedulerConfig(ctx.config);
    const db = ctx.get<MetadataDB>(PluginType.Metadata);
    const collector = new Collector({
      db,
      leases: ctx.get<LeaseStore>(PluginType.Lease, 'manager'),
      content: ctx.get<ContentMetadataStore>(PluginType.Content, 'content'),
      snapshotters: ctx.getAll<Snapshotter>(PluginType.Snapshotter),
      ingestExpiryMs: settings.ingestExpiryMs,
      log: ctx.log,
    });
    const scheduler = new GCScheduler(collector, settings, ctx.log);

    // A lease change may release what it held (leases publish no events).
    const unlisten = db.onMutation((e) => {
      if (e.kind === 'leases') scheduler.deletion();
      scheduler.mutation();
    });
    const exchange = ctx.get<Exchange>(PluginType.Event);
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
};

export const gcServicePlugin: Registration = {
  type: PluginType.Service,
  id: 'gc-service',
  requires: [PluginType.GC],
  init: (ctx) => new GCLocal(ctx.get<GCScheduler>(PluginType.GC, 'scheduler')),
};

export const gcGrpcPlugin = grpcAdapterPlugin('gc', 'io.berth.gc.v1.GC', GCService, 'gc-service');

/** Every GC registration, in the order builtinPlugins() should list them. */
export const gcPlugins: Registration[] = [
  gcSchedulerPlugin as Registration,
  gcServicePlugin,
  gcGrpcPlugin,
];
