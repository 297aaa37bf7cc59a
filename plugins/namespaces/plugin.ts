import { NamespacesService } from '../../api/gen/containerd/services/namespaces/v1/namespace.js';
import type { Publisher } from '../daemon/publisher.js';
import { PluginType, type Registration } from '../daemon/types.js';
import type { MetadataDB } from '../../core/metadata/db.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { NamespacesLocal } from './service.js';

export const namespacesServicePlugin: Registration = {
  type: PluginType.Service,
  id: 'namespaces-service',
  requires: [PluginType.Metadata, PluginType.Event],
  init: (ctx) =>
    new NamespacesLocal(
      ctx.get<MetadataDB>(PluginType.Metadata).namespaces,
      ctx.get<Publisher>(PluginType.Event),
    ),
};

export const namespacesGrpcPlugin = grpcAdapterPlugin(
  'namespaces',
  'containerd.services.namespaces.v1.Namespaces',
  NamespacesService,
  'namespaces-service',
);
