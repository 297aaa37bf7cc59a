import { ImagesService } from '../../api/gen/containerd/services/images/v1/images.js';
import type { Publisher } from '../daemon/publisher.js';
import { PluginType, type Registration } from '../daemon/types.js';
import { collectHook } from '../leases/collect-hook.js';
import type { MetadataDB } from '../../core/metadata/db.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { ImagesLocal } from './service.js';
import { ImageStore } from '../../core/metadata/images.js';

export const imagesServicePlugin: Registration = {
  type: PluginType.Service,
  id: 'images-service',
  requires: [PluginType.Metadata, PluginType.Event],
  init: (ctx) =>
    new ImagesLocal(
      new ImageStore(ctx.get<MetadataDB>(PluginType.Metadata), { collect: collectHook(ctx) }),
      ctx.get<Publisher>(PluginType.Event),
    ),
};

export const imagesGrpcPlugin = grpcAdapterPlugin(
  'images',
  'containerd.services.images.v1.Images',
  ImagesService,
  'images-service',
);
