import type { Server, ServiceDefinition } from '@grpc/grpc-js';
import { PluginType, type PluginRef, type Registration } from '../daemon/types.js';
import { adaptService } from './grpc-adapter.js';
import type { GrpcService, LocalServiceOf } from './types.js';

/**
 * A wire adapter plugin: serves the local service `local` as the gRPC service
 * `definition`, with the methods in `unimplemented` answering UNIMPLEMENTED.
 * The adapter holds no logic of its own.
 */
export function grpcAdapterPlugin<S extends ServiceDefinition, U extends keyof S & string = never>(
  id: string,
  definition: S,
  local: PluginRef<LocalServiceOf<NoInfer<S>, NoInfer<U>>>,
  unimplemented: readonly U[] = [],
): Registration<unknown, GrpcService> {
  return {
    type: PluginType.GRPC,
    id,
    requires: [local.type],
    init(ctx) {
      const impl = adaptService(definition, ctx.get(local), unimplemented);
      return {
        registerGrpc(server: Server) {
          server.addService(definition, impl);
        },
      };
    },
  };
}
