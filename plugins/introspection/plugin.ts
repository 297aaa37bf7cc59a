import { IntrospectionService } from '../../api/gen/containerd/services/introspection/v1/introspection.js';
import { PluginType, type Registration } from '../daemon/types.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { IntrospectionLocal } from './service.js';

/** Plugin list (a live view of the registry) and the persistent server UUID. */
export const introspectionServicePlugin: Registration = {
  type: PluginType.Service,
  id: 'introspection-service',
  async init(ctx) {
    const local = new IntrospectionLocal(() => ctx.records(), ctx.root);
    await local.loadUuid();
    return local;
  },
};

export const introspectionGrpcPlugin = grpcAdapterPlugin(
  'introspection',
  'containerd.services.introspection.v1.Introspection',
  IntrospectionService,
  'introspection-service',
);
