import type { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';

// The structural shape of a service definition as ts-proto emits it with
// `outputServices=generic-definitions`. Declared here so the transport needs no
// generated code; generated definitions satisfy it as they are.

export interface MessageCodec<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
  decode(input: BinaryReader | Uint8Array, length?: number): T;
}

export interface MethodDefinition<
  Req = any,
  Res = any,
  ClientStreaming extends boolean = boolean,
  ServerStreaming extends boolean = boolean,
> {
  /** Proto method name as it travels on the wire, e.g. "Create". */
  readonly name: string;
  readonly requestType: MessageCodec<Req>;
  readonly requestStream: ClientStreaming;
  readonly responseType: MessageCodec<Res>;
  readonly responseStream: ServerStreaming;
  readonly options?: unknown;
}

export interface ServiceDefinition {
  /** Bare service name, e.g. "Task". */
  readonly name: string;
  /** Fully qualified name used on the wire, e.g. "containerd.task.v2.Task". */
  readonly fullName: string;
  /** Keyed by lowerCamel method name, as ts-proto names them ("create", "closeIO"). */
  readonly methods: { readonly [key: string]: MethodDefinition };
}

export type RequestOf<M> = M extends { requestType: MessageCodec<infer R> } ? R : never;
export type ResponseOf<M> = M extends { responseType: MessageCodec<infer R> } ? R : never;

/** A small helper for tests and hand-written services. */
export function encodeMessage<T>(codec: MessageCodec<T>, message: T): Uint8Array {
  return codec.encode(message).finish();
}
