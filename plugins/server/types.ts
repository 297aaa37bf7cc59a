import type { Server } from '@grpc/grpc-js';

/** Implemented by plugins that expose a gRPC service on berthd's socket. */
export interface GrpcService {
  registerGrpc(server: Server): void;
}

/** Implemented by plugins that expose a ttrpc service on berthd's ttrpc socket. */
export interface TtrpcService {
  registerTtrpc(server: import('../../core/ttrpc/index.js').TtrpcServer): void;
}

export function isGrpcService(x: unknown): x is GrpcService {
  return typeof (x as GrpcService | undefined)?.registerGrpc === 'function';
}

export function isTtrpcService(x: unknown): x is TtrpcService {
  return typeof (x as TtrpcService | undefined)?.registerTtrpc === 'function';
}
