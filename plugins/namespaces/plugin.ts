import { NamespacesService } from '../../api/gen/containerd/services/namespaces/v1/namespace.js';
import { definePlugin, PluginType, pluginRef } from '../daemon/types.js';
import { ExchangeRef } from '../events/plugin.js';
import { MetadataRef } from '../metadata/plugin.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { NamespacesLocal } from './service.js';

export const NamespacesServiceRef = pluginRef<NamespacesLocal>(
  PluginType.Service,
  'namespaces-service',
);

export const namespacesServicePlugin = definePlugin(NamespacesServiceRef, {
  requires: [PluginType.Metadata, PluginType.Event],
  init: (ctx) => new NamespacesLocal(ctx.get(MetadataRef).namespaces, ctx.get(ExchangeRef)),
});

export const namespacesGrpcPlugin = grpcAdapterPlugin(
  'namespaces',
  NamespacesService,
  NamespacesServiceRef,
);
