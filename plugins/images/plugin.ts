import { ImagesService } from '../../api/gen/containerd/services/images/v1/images.js';
import { definePlugin, PluginType, pluginRef } from '../daemon/types.js';
import { ExchangeRef } from '../events/plugin.js';
import { collectHook } from '../leases/collect-hook.js';
import { MetadataRef } from '../metadata/plugin.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { ImagesLocal } from './service.js';
import { ImageStore } from '../../core/metadata/images.js';

export const ImagesServiceRef = pluginRef<ImagesLocal>(PluginType.Service, 'images-service');

export const imagesServicePlugin = definePlugin(ImagesServiceRef, {
  requires: [PluginType.Metadata, PluginType.Event],
  init: (ctx) =>
    new ImagesLocal(
      new ImageStore(ctx.get(MetadataRef), { collect: collectHook(ctx) }),
      ctx.get(ExchangeRef),
    ),
});

export const imagesGrpcPlugin = grpcAdapterPlugin('images', ImagesService, ImagesServiceRef);
