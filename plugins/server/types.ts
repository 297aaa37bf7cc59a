import type { Server, ServiceDefinition } from '@grpc/grpc-js';
import type { TtrpcServer } from '../../core/ttrpc/index.js';
import type { CallContext } from './context.js';

/** Implemented by plugins that expose a gRPC service on berthd's socket. */
export interface GrpcService {
  registerGrpc(server: Server): void;
}

/** Implemented by plugins that expose a ttrpc service on berthd's ttrpc socket. */
export interface TtrpcService {
  registerTtrpc(server: TtrpcServer): void;
}

export function isGrpcService(x: unknown): x is GrpcService {
  return typeof (x as GrpcService | undefined)?.registerGrpc === 'function';
}

export function isTtrpcService(x: unknown): x is TtrpcService {
  return typeof (x as TtrpcService | undefined)?.registerTtrpc === 'function';
}

// The request and response types of one method of a generated (ts-proto,
// grpc-js) service definition, read off its (de)serialisers.
type RequestOf<M> = M extends { requestDeserialize(value: Buffer): infer Q } ? Q : never;
type ResponseOf<M> = M extends { responseSerialize(value: infer R): Buffer } ? R : never;

/** The local form of one method, in the four shapes the gRPC adapter serves. */
export type LocalMethodOf<M> = M extends { requestStream: false; responseStream: false }
  ? (req: RequestOf<M>, ctx: CallContext) => Promise<ResponseOf<M>>
  : M extends { requestStream: false; responseStream: true }
    ? (req: RequestOf<M>, ctx: CallContext) => AsyncIterable<ResponseOf<M>>
    : M extends { requestStream: true; responseStream: false }
      ? (reqs: AsyncIterable<RequestOf<M>>, ctx: CallContext) => Promise<ResponseOf<M>>
      : (reqs: AsyncIterable<RequestOf<M>>, ctx: CallContext) => AsyncIterable<ResponseOf<M>>;

/**
 * The local service for the generated definition `S`: every method, typed from
 * the definition, so a renamed or missing method is a compile error. Methods
 * berthd answers with UNIMPLEMENTED on purpose are named in `Unimplemented`,
 * and the same list goes to the gRPC adapter, which refuses at registration a
 * list that names a method the service has.
 */
export type LocalServiceOf<S extends ServiceDefinition, Unimplemented extends keyof S = never> = {
  [K in Exclude<keyof S, Unimplemented>]: LocalMethodOf<S[K]>;
};
