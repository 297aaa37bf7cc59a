import { EventsDefinition as TtrpcEventsDefinition } from '../../api/gen/containerd/services/ttrpc/events/v1/events.js';
import { EventsService } from '../../api/gen/containerd/services/events/v1/events.js';
import type { TtrpcServer } from '../../core/ttrpc/index.js';
import { definePlugin, PluginType, pluginRef, type Registration } from '../daemon/types.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { Exchange } from '../../core/events/exchange.js';
import { EventsLocal } from './service.js';

export interface ExchangeConfig {
  /** Events buffered per subscriber before it is dropped as too slow. */
  subscriber_buffer: number;
}

export const ExchangeRef = pluginRef<Exchange>(PluginType.Event, 'exchange');
export const EventsServiceRef = pluginRef<EventsLocal>(PluginType.Service, 'events-service');

/** The events exchange: every service publishes here, subscribers filter. */
export const exchangePlugin = definePlugin(ExchangeRef, {
  init(ctx) {
    const exchange = new Exchange({
      onDrop: (info) =>
        ctx.log.warn({ ...info, err: info.err.message }, 'events subscriber dropped'),
    });
    ctx.onClose(() => exchange.close());
    return exchange;
  },
});

export const eventsServicePlugin = definePlugin(EventsServiceRef, {
  requires: [PluginType.Event],
  config: { subscriber_buffer: 1024 } as ExchangeConfig,
  init: (ctx) => new EventsLocal(ctx.get(ExchangeRef), ctx.config.subscriber_buffer),
});

export const eventsGrpcPlugin = grpcAdapterPlugin('events', EventsService, EventsServiceRef);

/** containerd.services.events.ttrpc.v1.Events/Forward on the ttrpc socket, for shims. */
export const eventsTtrpcPlugin: Registration = {
  type: PluginType.TTRPC,
  id: 'events',
  requires: [PluginType.Service],
  init(ctx) {
    const local = ctx.get(EventsServiceRef);
    return {
      registerTtrpc(server: TtrpcServer) {
        server.register(TtrpcEventsDefinition, {
          forward: (req) => local.forward(req),
        });
      },
    };
  },
};
