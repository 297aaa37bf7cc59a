import net from 'node:net';
import {
  BerthError,
  errCanceled,
  errDeadlineExceeded,
  errFailedPrecondition,
  fromStatus,
} from '../errors/catalogue.js';
import { activeTraceHeaders } from '../tracing/active-span.js';
import type { RequestOf, ResponseOf, ServiceDefinition } from './definition.js';
import { decodeResponse, encodeRequest, type KeyValue } from './envelope.js';
import { Flags, FrameReader, MessageType, encodeFrame, oversizedMessage } from './frame.js';
import { AsyncQueue } from './queue.js';

export type Metadata =
  Record<string, string | readonly string[]> | Map<string, string | readonly string[]>;

export interface CallOptions {
  /** Sent as timeout_nano and enforced locally: the call fails with DeadlineExceeded. */
  timeoutMs?: number;
  /** Keys are lowercased; each value becomes its own entry. */
  metadata?: Metadata;
  /** Aborting fails the call locally with Canceled; later frames for it are dropped. */
  signal?: AbortSignal;
}

export interface StreamOptions extends CallOptions {
  /** The client sends messages with send() and ends with closeSend(). */
  clientStreaming: boolean;
  /** The server answers with Data frames, read from `messages`. */
  serverStreaming: boolean;
  /** Message carried in the Request frame itself (the request of a server-streaming call). */
  payload?: Uint8Array;
}

export interface ConnectOptions {
  /** Dial timeout; no limit unless given. */
  timeoutMs?: number;
  /** Called once when the connection ends, for whatever reason. */
  onClose?: CloseListener;
}

/** err is the socket error, or undefined for an orderly end or a local close(). */
export type CloseListener = (err?: Error) => void;

export interface ClientStream {
  readonly id: number;
  /** True once the call has completed, failed or been cancelled. */
  readonly done: boolean;
  /** Messages of a server-streaming call; throws the call's error after the buffered ones. */
  readonly messages: AsyncIterable<Uint8Array>;
  /**
   * Response payload of a call answered with a Response frame; an empty array when a
   * server stream ends cleanly. Rejects with the call's error.
   */
  readonly response: Promise<Uint8Array>;
  send(payload: Uint8Array): void;
  closeSend(): void;
  /** Stop waiting locally; ttrpc has no cancel frame, so the server is not told. */
  cancel(reason?: BerthError): void;
}

const EMPTY = new Uint8Array(0);
const MAX_STREAM_ID = 0xffffffff;

/**
 * A ttrpc client: odd stream ids from 1, any number of calls in flight on one
 * connection. When the connection ends every pending call fails with Unavailable
 * "ttrpc: closed" and the close listeners run (a daemon's "shim died" signal).
 */
export class TtrpcClient {
  private readonly reader = new FrameReader();
  private readonly streams = new Map<number, ClientCall>();
  private readonly closeListeners = new Set<CloseListener>();
  private nextStreamId = 1;
  private closedError: BerthError | undefined;

  /** Dial a unix socket; accepts a plain path or a `unix://` address. */
  static connect(address: string, opts: ConnectOptions = {}): Promise<TtrpcClient> {
    const path = address.startsWith('unix://') ? address.slice('unix://'.length) : address;
    return new Promise((resolve, reject) => {
      const socket = net.connect(path);
      let timer: NodeJS.Timeout | undefined;
      const onError = (err: Error) => {
        clearTimeout(timer);
        reject(
          new BerthError('Unavailable', `ttrpc: dial ${address}: ${err.message}`, { cause: err }),
        );
      };
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          socket.off('error', onError);
          socket.destroy();
          reject(errDeadlineExceeded(`ttrpc: dial ${address}`));
        }, opts.timeoutMs);
      }
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new TtrpcClient(socket, opts));
      });
    });
  }

  /** Wrap an already connected socket. */
  constructor(
    private readonly socket: net.Socket,
    opts: { onClose?: CloseListener } = {},
  ) {
    if (opts.onClose) this.closeListeners.add(opts.onClose);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.onData(chunk);
      } catch (err) {
        // Only a defect gets here; fail the connection rather than the process.
        this.shutdown(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.on('error', (err) => this.shutdown(err));
    socket.on('close', () => this.shutdown());
    socket.on('end', () => this.shutdown());
    if (socket.destroyed) this.shutdown();
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Register a listener for the end of the connection; returns its removal. */
  onClose(listener: CloseListener): () => void {
    if (this.closedError) {
      queueMicrotask(() => listener(this.closedError?.cause as Error | undefined));
      return () => {};
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** A unary call: resolves with the response payload, rejects with the mapped status. */
  call(
    service: string,
    method: string,
    payload: Uint8Array,
    opts: CallOptions = {},
  ): Promise<Uint8Array> {
    try {
      const s = this.open(service, method, {
        ...opts,
        payload,
        clientStreaming: false,
        serverStreaming: false,
      });
      return s.response;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Open a streaming call (protocol 1.2). Throws if the client is closed or the payload too large. */
  stream(service: string, method: string, opts: StreamOptions): ClientStream {
    return this.open(service, method, opts);
  }

  /** Close the connection; pending calls fail with Unavailable "ttrpc: closed". */
  close(): void {
    this.shutdown();
  }

  private open(service: string, method: string, opts: StreamOptions): ClientCall {
    if (this.closedError) throw this.closedError;
    if (opts.signal?.aborted) throw errCanceled('');
    if (this.nextStreamId > MAX_STREAM_ID) {
      throw new BerthError('Unavailable', 'ttrpc: stream ids exhausted');
    }
    const timeoutNano =
      opts.timeoutMs !== undefined ? BigInt(Math.max(1, Math.round(opts.timeoutMs * 1e6))) : 0n;
    const body = encodeRequest({
      service,
      method,
      payload: opts.payload,
      timeoutNano,
      metadata: metadataEntries(opts.metadata),
    });
    // Unary calls keep flags 0, which is all a 1.1 server understands.
    const flags = opts.clientStreaming
      ? Flags.RemoteOpen
      : opts.serverStreaming
        ? Flags.RemoteClosed
        : 0;
    const id = this.nextStreamId;
    const frame = encodeFrame(id, MessageType.Request, flags, body);
    this.nextStreamId += 2;

    const call = new ClientCall(this, id, opts);
    this.streams.set(id, call);
    this.write(frame);
    return call;
  }

  /** @internal */
  write(frame: Buffer): void {
    if (this.closedError) throw this.closedError;
    this.socket.write(frame);
  }

  /** @internal */
  forget(id: number): void {
    this.streams.delete(id);
  }

  private onData(chunk: Buffer): void {
    for (const ev of this.reader.push(chunk)) {
      const call = this.streams.get(ev.header.streamId);
      if (!call) continue; // Frames for unknown or abandoned streams are dropped.
      if (ev.kind === 'oversized') {
        call.finish(new BerthError('ResourceExhausted', oversizedMessage(ev.header.length)));
      } else if (ev.header.type === MessageType.Response) {
        call.onResponse(ev.payload);
      } else if (ev.header.type === MessageType.Data) {
        call.onData(ev.header.flags, ev.payload);
      }
    }
  }

  private shutdown(err?: Error): void {
    if (this.closedError) return;
    this.closedError = new BerthError('Unavailable', 'ttrpc: closed', err ? { cause: err } : {});
    this.socket.destroy();
    for (const call of [...this.streams.values()]) call.finish(this.closedError);
    this.streams.clear();
    for (const listener of this.closeListeners) {
      try {
        listener(err);
      } catch {
        // A failing listener must not keep the others from learning about the close.
      }
    }
    this.closeListeners.clear();
  }
}

class ClientCall implements ClientStream {
  readonly messages: AsyncQueue<Uint8Array>;
  readonly response: Promise<Uint8Array>;
  private resolve!: (payload: Uint8Array) => void;
  private reject!: (err: BerthError) => void;
  private finished = false;
  private sendClosed: boolean;
  private timer: NodeJS.Timeout | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort = () => this.finish(errCanceled(''));

  constructor(
    private readonly client: TtrpcClient,
    readonly id: number,
    opts: StreamOptions,
  ) {
    this.messages = new AsyncQueue<Uint8Array>(() => this.cancel());
    this.response = new Promise<Uint8Array>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Streaming callers read `messages`; the mirrored rejection here is expected.
    this.response.catch(() => {});
    this.sendClosed = !opts.clientStreaming;
    if (opts.timeoutMs !== undefined) {
      this.timer = setTimeout(() => this.finish(errDeadlineExceeded('')), opts.timeoutMs);
    }
    this.signal = opts.signal;
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  get done(): boolean {
    return this.finished;
  }

  send(payload: Uint8Array): void {
    if (this.sendClosed) throw errFailedPrecondition('ttrpc: stream closed for sending');
    if (this.finished) return;
    this.client.write(encodeFrame(this.id, MessageType.Data, 0, payload));
  }

  closeSend(): void {
    if (this.sendClosed) return;
    this.sendClosed = true;
    if (this.finished) return;
    this.client.write(
      encodeFrame(this.id, MessageType.Data, Flags.RemoteClosed | Flags.NoData, EMPTY),
    );
  }

  cancel(reason: BerthError = errCanceled('')): void {
    this.finish(reason);
  }

  onResponse(body: Uint8Array): void {
    let res;
    try {
      res = decodeResponse(body);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      this.finish(new BerthError('Internal', `ttrpc: bad response: ${msg}`));
      return;
    }
    // An absent status counts as OK, as in the Go client.
    if (res.status && res.status.code !== 0) {
      this.finish(fromStatus(res.status.code, res.status.message));
    } else {
      this.finish(undefined, res.payload);
    }
  }

  onData(flags: number, payload: Uint8Array): void {
    if ((flags & Flags.NoData) === 0) this.messages.push(payload);
    if ((flags & Flags.RemoteClosed) !== 0) this.finish(undefined, EMPTY);
  }

  finish(err?: BerthError, payload: Uint8Array = EMPTY): void {
    if (this.finished) return;
    this.finished = true;
    this.sendClosed = true;
    this.client.forget(this.id);
    clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this.onAbort);
    if (err) {
      this.messages.fail(err);
      this.reject(err);
    } else {
      this.messages.end();
      this.resolve(payload);
    }
  }
}

function metadataEntries(md: Metadata | undefined): KeyValue[] {
  const entries = !md ? [] : md instanceof Map ? [...md.entries()] : Object.entries(md);
  const out: KeyValue[] = [];
  for (const [key, value] of entries) {
    const k = key.toLowerCase();
    if (typeof value === 'string') out.push({ key: k, value });
    else for (const v of value) out.push({ key: k, value: v });
  }
  // A call made under a traced span hands the trace to the server, in the
  // W3C headers containerd's shims read from ttrpc metadata.
  const trace = activeTraceHeaders();
  if (trace && !out.some((kv) => kv.key === 'traceparent')) {
    out.push({ key: 'traceparent', value: trace.traceparent });
    if (trace.tracestate) out.push({ key: 'tracestate', value: trace.tracestate });
  }
  return out;
}

type Requests<Req> = AsyncIterable<Req> | Iterable<Req>;

export type ClientMethod<M> = M extends { requestStream: true; responseStream: true }
  ? (requests: Requests<RequestOf<M>>, opts?: CallOptions) => AsyncIterable<ResponseOf<M>>
  : M extends { requestStream: true }
    ? (requests: Requests<RequestOf<M>>, opts?: CallOptions) => Promise<ResponseOf<M>>
    : M extends { responseStream: true }
      ? (request: RequestOf<M>, opts?: CallOptions) => AsyncIterable<ResponseOf<M>>
      : (request: RequestOf<M>, opts?: CallOptions) => Promise<ResponseOf<M>>;

/** Typed methods for a service definition, keyed like its `methods`. */
export type TypedClient<D extends ServiceDefinition> = {
  [K in keyof D['methods']]: ClientMethod<D['methods'][K]>;
};

export function makeClient<D extends ServiceDefinition>(
  definition: D,
  client: TtrpcClient,
): TypedClient<D> {
  const out: Record<string, unknown> = {};
  const service = definition.fullName;
  for (const [key, def] of Object.entries(definition.methods)) {
    const encode = (msg: unknown) => def.requestType.encode(msg).finish();
    const decode = (bytes: Uint8Array) => def.responseType.decode(bytes);
    const open = (opts: CallOptions | undefined, payload?: Uint8Array) =>
      client.stream(service, def.name, {
        ...opts,
        payload,
        clientStreaming: def.requestStream,
        serverStreaming: def.responseStream,
      });

    if (!def.requestStream && !def.responseStream) {
      out[key] = async (req: unknown, opts?: CallOptions) =>
        decode(await client.call(service, def.name, encode(req), opts));
    } else if (!def.requestStream) {
      out[key] = async function* (req: unknown, opts?: CallOptions) {
        const s = open(opts, encode(req));
        for await (const bytes of s.messages) yield decode(bytes);
      };
    } else if (!def.responseStream) {
      out[key] = async (reqs: Requests<unknown>, opts?: CallOptions) => {
        const s = open(opts);
        void pump(s, reqs, encode);
        return decode(await s.response);
      };
    } else {
      out[key] = async function* (reqs: Requests<unknown>, opts?: CallOptions) {
        const s = open(opts);
        void pump(s, reqs, encode);
        for await (const bytes of s.messages) yield decode(bytes);
      };
    }
  }
  return out as TypedClient<D>;
}

/** Feed a request iterable into a stream; a failing source fails the call locally. */
async function pump(
  s: ClientStream,
  reqs: Requests<unknown>,
  encode: (msg: unknown) => Uint8Array,
): Promise<void> {
  try {
    for await (const req of reqs) {
      if (s.done) return;
      s.send(encode(req));
    }
    s.closeSend();
  } catch (err) {
    const reason =
      err instanceof BerthError
        ? err
        : errCanceled(`ttrpc: request stream failed: ${err instanceof Error ? err.message : err}`);
    s.cancel(reason);
  }
}
