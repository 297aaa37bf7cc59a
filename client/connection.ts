import path from 'node:path';
import {
  Channel,
  type Client as GrpcClient,
  type ClientReadableStream,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { BerthError, fromStatus } from '../core/errors/catalogue.js';

export const DEFAULT_ADDRESS = '/run/berth/berth.sock';
export const DEFAULT_NAMESPACE = 'default';

export interface ConnectionOptions {
  /** Socket path (or `unix://` URL) of berthd. */
  address?: string;
  namespace?: string;
  /** Per-call deadline for unary calls. */
  timeoutMs?: number;
}

/** One channel shared by every service client, with namespace-carrying metadata. */
export class Connection {
  readonly address: string;
  readonly target: string;
  readonly channel: Channel;
  private readonly clients = new Map<unknown, GrpcClient>();

  constructor(address: string) {
    // grpc-js needs an absolute path after unix://; resolve relative ones here.
    this.address = path.resolve(address.replace(/^unix:\/\//, ''));
    this.target = `unix://${this.address}`;
    this.channel = new Channel(this.target, credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 << 20,
      'grpc.max_send_message_length': 16 << 20,
    });
  }

  /** A generated grpc-js client constructor bound to the shared channel. */
  client<T extends GrpcClient>(ctor: new (...args: any[]) => T): T {
    let c = this.clients.get(ctor);
    if (!c) {
      c = new ctor(this.target, credentials.createInsecure(), { channelOverride: this.channel });
      this.clients.set(ctor, c);
    }
    return c as T;
  }

  close() {
    for (const c of this.clients.values()) c.close();
    this.channel.close();
  }

  /** Maps a gRPC error to a BerthError, with a hint when the daemon is not there. */
  wrapError(err: ServiceError): BerthError {
    // Only transport failures get the hint; an Unavailable the daemon itself
    // answered (a shim that went away, say) keeps its own message.
    if (
      err.code === status.UNAVAILABLE &&
      /no connection established|connection dropped|failed to connect|connect E[A-Z]+|ECONNREFUSED|ENOENT/i.test(
        err.details ?? '',
      )
    ) {
      return new BerthError(
        'Unavailable',
        `cannot connect to berthd at ${this.address}: is it running? (${err.details})`,
      );
    }
    return fromStatus(err.code, err.details || err.message);
  }
}

/** What the Client exposes to its per-service helpers (tasks, images, leases, …). */
export interface CallSite {
  call<Res>(
    ctor: new (...a: any[]) => any,
    method: string,
    req: unknown,
    extra?: Partial<CallOptions>,
  ): Promise<Res>;
}

/** A CallSite that also opens server streams (listings that may be long). */
export interface StreamSite extends CallSite {
  stream<Res>(
    ctor: new (...a: any[]) => any,
    method: string,
    req: unknown,
    extra?: Partial<CallOptions>,
  ): AsyncIterable<Res>;
}

export interface CallOptions {
  namespace: string;
  timeoutMs?: number;
  lease?: string;
  signal?: AbortSignal;
}

export function metadataFor(opts: CallOptions): Metadata {
  const md = new Metadata();
  md.set('containerd-namespace', opts.namespace);
  if (opts.lease) md.set('containerd-lease', opts.lease);
  return md;
}

type UnaryFn<Req, Res> = (
  req: Req,
  md: Metadata,
  options: { deadline?: Date },
  cb: (err: ServiceError | null, res: Res) => void,
) => { cancel(): void };

/** Promise wrapper for a generated unary method. */
export function unary<Req, Res>(
  conn: Connection,
  client: GrpcClient,
  method: string,
  req: Req,
  opts: CallOptions,
): Promise<Res> {
  const fn = (client as unknown as Record<string, UnaryFn<Req, Res>>)[method]!.bind(client);
  return new Promise<Res>((resolve, reject) => {
    const deadline = opts.timeoutMs ? new Date(Date.now() + opts.timeoutMs) : undefined;
    const onAbort = () => call.cancel();
    const call = fn(req, metadataFor(opts), { deadline }, (err, res) => {
      // One signal often spans many calls (an unpack): each takes its listener back.
      opts.signal?.removeEventListener('abort', onAbort);
      if (err) reject(conn.wrapError(err));
      else resolve(res);
    });
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Async iterator over a generated server-streaming method; cancels on break. */
export async function* serverStream<Req, Res>(
  conn: Connection,
  client: GrpcClient,
  method: string,
  req: Req,
  opts: CallOptions,
): AsyncGenerator<Res> {
  const fn = (
    client as unknown as Record<string, (r: Req, md: Metadata) => ClientReadableStream<Res>>
  )[method]!.bind(client);
  const stream = fn(req, metadataFor(opts));
  const onAbort = () => stream.cancel();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const msg of stream) yield msg as Res;
  } catch (err) {
    const e = err as ServiceError;
    if (e.code === status.CANCELLED && opts.signal?.aborted) return;
    throw typeof e.code === 'number' ? conn.wrapError(e) : err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    stream.cancel();
  }
}
