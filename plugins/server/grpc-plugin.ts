import type { Server, ServiceDefinition } from '@grpc/grpc-js';
import { PluginType, type Registration } from '../daemon/types.js';
import { adaptService, type LocalService } from './grpc-adapter.js';

/**
 * A wire adapter plugin: exposes the local service `io.berth.service.v1.<localId>`
 * as the gRPC service `fullName`. The adapter holds no logic of its own.
 */
export function grpcAdapterPlugin(
  id: string,
  fullName: string,
  definition: ServiceDefinition,
  localId: string,
): Registration {
  return {
    type: PluginType.GRPC,
    id,
    requires: [PluginType.Service],
    init(ctx) {
      const local = ctx.get<LocalService>(PluginType.Service, localId);
      return {
        registerGrpc(server: Server) {
          server.addService(definition, adaptService(fullName, definition, local));
        },
      };
    },
  };
}
