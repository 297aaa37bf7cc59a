import { ContainersService } from '../../api/gen/containerd/services/containers/v1/containers.js';
import type { Publisher } from '../daemon/publisher.js';
import { PluginType, type Registration } from '../daemon/types.js';
import type { MetadataDB } from '../../core/metadata/db.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { ContainersLocal } from './service.js';

export const containersServicePlugin: Registration = {
  type: PluginType.Service,
  id: 'containers-service',
  requires: [PluginType.Metadata, PluginType.Event],
  init: (ctx) =>
    new ContainersLocal(
      ctx.get<MetadataDB>(PluginType.Metadata).containers,
      ctx.get<Publisher>(PluginType.Event),
    ),
};

export const containersGrpcPlugin = grpcAdapterPlugin(
  'containers',
  'containerd.services.containers.v1.Containers',
  ContainersService,
  'containers-service',
);
