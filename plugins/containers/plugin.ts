import { ContainersService } from '../../api/gen/containerd/services/containers/v1/containers.js';
import { definePlugin, PluginType, pluginRef } from '../daemon/types.js';
import { ExchangeRef } from '../events/plugin.js';
import { MetadataRef } from '../metadata/plugin.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { ContainersLocal } from './service.js';

export const ContainersServiceRef = pluginRef<ContainersLocal>(
  PluginType.Service,
  'containers-service',
);

export const containersServicePlugin = definePlugin(ContainersServiceRef, {
  requires: [PluginType.Metadata, PluginType.Event],
  init: (ctx) => new ContainersLocal(ctx.get(MetadataRef).containers, ctx.get(ExchangeRef)),
});

export const containersGrpcPlugin = grpcAdapterPlugin(
  'containers',
  ContainersService,
  ContainersServiceRef,
);
