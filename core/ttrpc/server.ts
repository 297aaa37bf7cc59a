import fs from 'node:fs/promises';
import net from 'node:net';
import {
  BerthError,
  StatusCode,
  errAlreadyExists,
  errCanceled,
  errDeadlineExceeded,
  errInvalidArgument,
  toStatus,
} from '../errors/catalogue.js';
import type { MethodDefinition, RequestOf, ResponseOf, ServiceDefinition } from './definition.js';
import { decodeRequest, encodeResponse, type RequestEnvelope } from './envelope.js';
import {
  Flags,
  FrameReader,
  MessageType,
  encodeFrame,
  oversizedMessage,
  type FrameHeader,
} from './frame.js';
import { AsyncQueue } from './queue.js';

/** What a handler learns about the call besides its request message. */
export interface CallContext {
  readonly service: string;
  readonly method: string;
  /** Request metadata, keys lowercased, each key with all of its values in order. */
  readonly metadata: Map<string, string[]>;
  /** Aborts at the caller's deadline (reason DeadlineExceeded) or when the connection drops (Canceled). */
  readonly signal: AbortSignal;
  /** Caller's deadline as epoch milliseconds, when it sent one. */
  readonly deadline?: number;
}

export type UnaryHandler<Req, Res> = (request: Req, ctx: CallContext) => Res | Promise<Res>;
export type ServerStreamingHandler<Req, Res> = (
  request: Req,
  ctx: CallContext,
) => AsyncIterable<Res>;
export type ClientStreamingHandler<Req, Res> = (
  requests: AsyncIterable<Req>,
  ctx: CallContext,
) => Res | Promise<Res>;
export type BidiStreamingHandler<Req, Res> = (
  requests: AsyncIterable<Req>,
  ctx: CallContext,
) => AsyncIterable<Res>;

export type MethodHandler<M> = M extends { requestStream: true; responseStream: true }
  ? BidiStreamingHandler<RequestOf<M>, ResponseOf<M>>
  : M extends { requestStream: true }
    ? ClientStreamingHandler<RequestOf<M>, ResponseOf<M>>
    : M extends { responseStream: true }
      ? ServerStreamingHandler<RequestOf<M>, ResponseOf<M>>
      : UnaryHandler<RequestOf<M>, ResponseOf<M>>;

/**
 * Handlers keyed like the definition's `methods` (lowerCamel, as ts-proto names
 * them: `create`, `closeIO`). Server-streaming handlers return an async iterable
 * (usually an async generator); client-streaming and bidi handlers receive one.
 */
export type ServiceImplementation<D extends ServiceDefinition> = {
  [K in keyof D['methods']]: MethodHandler<D['methods'][K]>;
};

export interface ListenOptions {
  /** File mode for the socket; 0o600 unless given. */
  mode?: number;
}

export interface CloseOptions {
  /** How long in-flight calls may run before they are aborted; 5 s unless given. */
  timeoutMs?: number;
}

interface RegisteredMethod {
  def: MethodDefinition;
  handler: (...args: unknown[]) => unknown;
  self: object;
}

type ServiceTable = Map<string, Map<string, RegisteredMethod>>;

const EMPTY = new Uint8Array(0);
// setTimeout clamps larger delays to 1 ms; such deadlines are effectively "none".
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A ttrpc server compatible with containerd/ttrpc 1.1 (unary) and 1.2 (streaming).
 *
 * There is no peer credential check: Node cannot read SO_PEERCRED without native
 * code. Access control is the socket file itself, created with mode 0600 by root.
 */
export class TtrpcServer {
  private readonly services: ServiceTable = new Map();
  private readonly listeners: { server: net.Server; path: string }[] = [];
  private readonly connections = new Set<ServerConnection>();
  private closing = false;

  register<D extends ServiceDefinition>(definition: D, impl: ServiceImplementation<D>): this {
    if (this.services.has(definition.fullName)) {
      throw errAlreadyExists(`ttrpc: service ${definition.fullName}`);
    }
    const methods = new Map<string, RegisteredMethod>();
    const table = impl as Record<string, unknown>;
    for (const [key, def] of Object.entries(definition.methods)) {
      const handler = table[key];
      if (typeof handler !== 'function') {
        throw errInvalidArgument(`ttrpc: ${definition.fullName}: no handler for method ${key}`);
      }
      methods.set(def.name, {
        def,
        handler: handler as RegisteredMethod['handler'],
        self: impl as object,
      });
    }
    this.services.set(definition.fullName, methods);
    return this;
  }

  /** Listen on a unix socket path, replacing a stale socket file left by a dead server. */
  async listen(path: string, opts: ListenOptions = {}): Promise<void> {
    if (this.closing) throw errCanceled('ttrpc: server closed');
    const abstract = path.startsWith('\0');
    if (!abstract) await removeStaleSocket(path);
    const server = net.createServer((socket) => this.serveSocket(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Bind then chmod leaves a short window; callers keep sockets in a 0700 directory.
    if (!abstract) await fs.chmod(path, opts.mode ?? 0o600);
    server.on('error', () => {});
    this.listeners.push({ server, path });
  }

  /** Serve ttrpc on an already connected socket (accepted elsewhere, or one end of a pair). */
  serveSocket(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const conn = new ServerConnection(socket, this.services, (c) => this.connections.delete(c));
    this.connections.add(conn);
  }

  /**
   * Stop accepting, let in-flight calls finish (up to timeoutMs), then abort what
   * is left and close every connection.
   */
  async close(opts: CloseOptions = {}): Promise<void> {
    this.closing = true;
    const closed = this.listeners.map(
      ({ server }) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    const idle = Promise.all([...this.connections].map((c) => c.whenIdle()));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      idle,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, opts.timeoutMs ?? 5000))),
    ]);
    clearTimeout(timer);
    for (const c of [...this.connections]) c.destroy();
    await Promise.all(closed);
    for (const { path } of this.listeners) {
      if (!path.startsWith('\0')) await fs.rm(path, { force: true });
    }
    this.listeners.length = 0;
  }
}

async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await fs.lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) throw errAlreadyExists(`ttrpc: ${path} exists and is not a socket`);
  if (await acceptsConnections(path)) throw errAlreadyExists(`ttrpc: address ${path} in use`);
  await fs.rm(path, { force: true });
}

function acceptsConnections(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

interface ActiveStream {
  id: number;
  controller: AbortController;
  timer?: NodeJS.Timeout;
  /** Open while a client-streaming call may still receive Data frames. */
  inbound?: AsyncQueue<Uint8Array>;
  finished: boolean;
}

/** One client connection: frame demultiplexing, stream bookkeeping, handler dispatch. */
class ServerConnection {
  private readonly reader = new FrameReader();
  private readonly streams = new Map<number, ActiveStream>();
  private readonly idleWaiters: (() => void)[] = [];
  private lastStreamId = 0;
  private closed = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly services: ServiceTable,
    private readonly onGone: (c: ServerConnection) => void,
  ) {
    socket.on('data', (chunk: Buffer) => {
      try {
        this.onData(chunk);
      } catch {
        // Only a defect gets here; drop the connection rather than the process.
        this.destroy();
      }
    });
    // A client that stops sending is gone; ttrpc has no half-closed connections.
    socket.on('end', () => this.destroy());
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.teardown());
  }

  whenIdle(): Promise<void> {
    if (this.streams.size === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  destroy(): void {
    this.socket.destroy();
    this.teardown();
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const stream of this.streams.values()) this.finish(stream, errCanceled(''));
    this.streams.clear();
    this.notifyIdle();
    this.onGone(this);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    for (const ev of this.reader.push(chunk)) {
      if (ev.kind === 'oversized') {
        const active = this.streams.get(ev.header.streamId);
        if (active) this.finish(active, errCanceled(''));
        this.sendStatus(
          ev.header.streamId,
          StatusCode.RESOURCE_EXHAUSTED,
          oversizedMessage(ev.header.length),
        );
      } else {
        this.onFrame(ev.header, ev.payload);
      }
    }
  }

  private onFrame(header: FrameHeader, payload: Buffer): void {
    const id = header.streamId;
    if (id % 2 !== 1) {
      this.sendStatus(
        id,
        StatusCode.INVALID_ARGUMENT,
        'StreamID must be odd for client initiated streams',
      );
      return;
    }
    if (header.type === MessageType.Request) this.onRequest(header, payload);
    else if (header.type === MessageType.Data) this.onStreamData(header, payload);
    // Other types are ignored for forward compatibility, as the Go server does.
  }

  private onRequest(header: FrameHeader, payload: Buffer): void {
    const id = header.streamId;
    if (id <= this.lastStreamId) {
      this.sendStatus(
        id,
        StatusCode.INVALID_ARGUMENT,
        'StreamID cannot be re-used and must increment',
      );
      return;
    }
    this.lastStreamId = id;

    let req: RequestEnvelope;
    try {
      req = decodeRequest(payload);
    } catch (err) {
      this.sendStatus(
        id,
        StatusCode.INVALID_ARGUMENT,
        `unmarshal request error: ${errMessage(err)}`,
      );
      return;
    }
    const service = this.services.get(req.service);
    if (!service) {
      this.sendStatus(id, StatusCode.UNIMPLEMENTED, `service ${req.service}`);
      return;
    }
    const method = service.get(req.method);
    if (!method) {
      this.sendStatus(id, StatusCode.UNIMPLEMENTED, `method ${req.method}`);
      return;
    }

    const stream: ActiveStream = { id, controller: new AbortController(), finished: false };
    let deadline: number | undefined;
    if (req.timeoutNano !== 0n) {
      const ms = Number(req.timeoutNano) / 1e6;
      deadline = Date.now() + ms;
      if (ms <= 0) stream.controller.abort(errDeadlineExceeded(''));
      else if (ms <= MAX_TIMER_MS) {
        stream.timer = setTimeout(
          () => stream.controller.abort(errDeadlineExceeded('')),
          Math.ceil(ms),
        );
      }
    }
    if (method.def.requestStream) {
      stream.inbound = new AsyncQueue<Uint8Array>();
      // An absent payload means the client sends its first message as Data.
      if (req.payload !== undefined) stream.inbound.push(req.payload);
      if ((header.flags & Flags.RemoteOpen) === 0) stream.inbound.end();
    }
    this.streams.set(id, stream);

    const ctx: CallContext = {
      service: req.service,
      method: req.method,
      metadata: collectMetadata(req),
      signal: stream.controller.signal,
      ...(deadline !== undefined ? { deadline } : {}),
    };
    void this.run(stream, method, req, ctx);
  }

  private onStreamData(header: FrameHeader, payload: Buffer): void {
    const id = header.streamId;
    const stream = this.streams.get(id);
    if (!stream) {
      this.sendStatus(id, StatusCode.INVALID_ARGUMENT, 'StreamID is no longer active');
      return;
    }
    const inbound = stream.inbound;
    if (!inbound || inbound.done) {
      this.finish(stream, errCanceled(''));
      this.sendStatus(id, StatusCode.INVALID_ARGUMENT, 'data handling error: ttrpc: stream closed');
      return;
    }
    if ((header.flags & Flags.NoData) === 0) inbound.push(payload);
    if ((header.flags & Flags.RemoteClosed) !== 0) {
      inbound.end();
      if (payload.length > 0) {
        this.finish(stream, errCanceled(''));
        this.sendStatus(id, StatusCode.INVALID_ARGUMENT, 'data close message cannot include data');
      }
    }
  }

  private async run(
    stream: ActiveStream,
    method: RegisteredMethod,
    req: RequestEnvelope,
    ctx: CallContext,
  ): Promise<void> {
    const { def } = method;
    try {
      const input = stream.inbound
        ? decodeEach(def, stream.inbound)
        : decodePayload(def, req.payload ?? EMPTY);
      const result = method.handler.call(method.self, input, ctx);
      if (def.responseStream) {
        for await (const msg of result as AsyncIterable<unknown>) {
          if (stream.finished) break;
          await this.sendData(stream.id, encodeResult(def, msg), 0);
        }
        if (!stream.finished) {
          await this.sendData(stream.id, EMPTY, Flags.RemoteClosed | Flags.NoData);
        }
      } else {
        const payload = encodeResult(def, await result);
        if (!stream.finished) this.sendResponse(stream.id, StatusCode.OK, '', payload);
      }
    } catch (err) {
      // A stream already torn down (connection gone, protocol error) was answered.
      if (!stream.finished) {
        const st = toStatus(err);
        this.sendResponse(stream.id, st.code, st.message, EMPTY);
      }
    } finally {
      this.finish(stream);
    }
  }

  /** Drop a stream's bookkeeping; with a reason, also abort its handler. */
  private finish(stream: ActiveStream, abortReason?: BerthError): void {
    if (stream.finished) return;
    stream.finished = true;
    clearTimeout(stream.timer);
    if (abortReason) {
      stream.controller.abort(abortReason);
      stream.inbound?.fail(abortReason);
    } else {
      stream.inbound?.end();
    }
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    if (this.streams.size === 0) this.notifyIdle();
  }

  private notifyIdle(): void {
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private sendStatus(id: number, code: number, message: string): void {
    this.sendResponse(id, code, message, EMPTY);
  }

  private sendResponse(id: number, code: number, message: string, payload: Uint8Array): void {
    // Go servers always fill status, code 0 included; clients rely on it being present.
    const body = encodeResponse({ status: { code, message, details: [] }, payload });
    this.write(encodeFrame(id, MessageType.Response, 0, body));
  }

  private async sendData(id: number, payload: Uint8Array, flags: number): Promise<void> {
    const frame = encodeFrame(id, MessageType.Data, flags, payload);
    if (!this.write(frame)) await this.drained();
  }

  /** Returns false when the caller should wait for the socket to drain. */
  private write(frame: Buffer): boolean {
    if (this.closed || this.socket.destroyed) return true;
    return this.socket.write(frame);
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }
}

function collectMetadata(req: RequestEnvelope): Map<string, string[]> {
  const md = new Map<string, string[]>();
  for (const { key, value } of req.metadata) {
    const k = key.toLowerCase();
    const list = md.get(k);
    if (list) list.push(value);
    else md.set(k, [value]);
  }
  return md;
}

function decodePayload(def: MethodDefinition, bytes: Uint8Array): unknown {
  try {
    return def.requestType.decode(bytes);
  } catch (err) {
    throw new BerthError('Internal', `ttrpc: error unmarshalling payload: ${errMessage(err)}`);
  }
}

async function* decodeEach(def: MethodDefinition, queue: AsyncQueue<Uint8Array>) {
  for await (const bytes of queue) yield decodePayload(def, bytes);
}

function encodeResult(def: MethodDefinition, msg: unknown): Uint8Array {
  // Go refuses a nil response the same way, with code Unknown.
  if (msg === undefined || msg === null) throw new Error('ttrpc: marshal called with nil');
  return def.responseType.encode(msg).finish();
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
