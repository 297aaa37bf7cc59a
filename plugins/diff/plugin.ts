import { DiffService } from '../../api/gen/containerd/services/diff/v1/diff.js';
import type { ContentMetadataStore } from '../../core/metadata/content.js';
import { PluginType, type Registration } from '../daemon/types.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { DiffLocal } from './service.js';

/** Layer apply and diff over the content store; temporary mount points live in the plugin's state. */
export const diffServicePlugin: Registration = {
  type: PluginType.Service,
  id: 'diff-service',
  requires: [PluginType.Content],
  init: (ctx) => {
    ctx.meta.capabilities.push('overlay-upperdir-apply');
    return new DiffLocal(ctx.get<ContentMetadataStore>(PluginType.Content, 'content'), ctx.state);
  },
};

export const diffGrpcPlugin = grpcAdapterPlugin(
  'diff',
  'containerd.services.diff.v1.Diff',
  DiffService,
  'diff-service',
);
