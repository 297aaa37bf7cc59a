import { VersionService } from '../../api/gen/containerd/services/version/v1/version.js';
import type { VersionResponse } from '../../api/gen/containerd/services/version/v1/version.js';
import { PluginType, type Registration } from '../daemon/types.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';

/** The daemon's version and revision. */
export const versionServicePlugin: Registration = {
  type: PluginType.Service,
  id: 'version-service',
  init: (ctx) => ({
    version: async (): Promise<VersionResponse> => ({
      version: ctx.daemon.version,
      revision: ctx.daemon.revision,
    }),
  }),
};

export const versionGrpcPlugin = grpcAdapterPlugin(
  'version',
  'containerd.services.version.v1.Version',
  VersionService,
  'version-service',
);
