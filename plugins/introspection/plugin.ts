import { IntrospectionService } from '../../api/gen/containerd/services/introspection/v1/introspection.js';
import { definePlugin, PluginType, pluginRef } from '../daemon/types.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { IntrospectionLocal } from './service.js';

export const IntrospectionServiceRef = pluginRef<IntrospectionLocal>(
  PluginType.Service,
  'introspection-service',
);

/** Plugin list (a live view of the registry) and the persistent server UUID. */
export const introspectionServicePlugin = definePlugin(IntrospectionServiceRef, {
  async init(ctx) {
    const local = new IntrospectionLocal(() => ctx.records(), ctx.root);
    await local.loadUuid();
    return local;
  },
});

export const introspectionGrpcPlugin = grpcAdapterPlugin(
  'introspection',
  IntrospectionService,
  IntrospectionServiceRef,
);
