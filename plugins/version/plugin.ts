import { VersionService } from '../../api/gen/containerd/services/version/v1/version.js';
import { definePlugin, PluginType, pluginRef } from '../daemon/types.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { VersionLocal } from './service.js';

export const VersionServiceRef = pluginRef<VersionLocal>(PluginType.Service, 'version-service');

export const versionServicePlugin = definePlugin(VersionServiceRef, {
  init: (ctx) => new VersionLocal(ctx.daemon),
});

export const versionGrpcPlugin = grpcAdapterPlugin('version', VersionService, VersionServiceRef);
