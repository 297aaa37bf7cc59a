import { DiffService } from '../../api/gen/containerd/services/diff/v1/diff.js';
import { ContentStoreRef } from '../content/plugin.js';
import { definePlugin, PluginType, pluginRef } from '../daemon/types.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { DiffLocal } from './service.js';

export const DiffServiceRef = pluginRef<DiffLocal>(PluginType.Service, 'diff-service');

/** Layer apply and diff over the content store; temporary mount points live in the plugin's state. */
export const diffServicePlugin = definePlugin(DiffServiceRef, {
  requires: [PluginType.Content],
  init: (ctx) => {
    ctx.meta.capabilities.push('overlay-upperdir-apply');
    return new DiffLocal(ctx.get(ContentStoreRef), ctx.state);
  },
});

export const diffGrpcPlugin = grpcAdapterPlugin('diff', DiffService, DiffServiceRef);
