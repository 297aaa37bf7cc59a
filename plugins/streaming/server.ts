import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { errFailedPrecondition, errInvalidArgument } from '../../core/errors/catalogue.js';
import {
  HEADER_ACCEPTED_VERSIONS,
  HEADER_PROTOCOL_VERSION,
  headerList,
  negotiateByClient,
  negotiateByServer,
  SPDY_COMMAND_PROTOCOLS,
  SPDY_PORT_FORWARD_PROTOCOLS,
  WS_COMMAND_PROTOCOLS,
  WS_PORT_FORWARD_PROTOCOLS,
  WS_SPDY_TUNNEL,
} from './protocols.js';
import type { CommandTarget } from './remote-command.js';
import { SpdySession } from './spdy/session.js';
import { serveSpdyCommand } from './spdy-command.js';
import { serveSpdyPortForward } from './spdy-port-forward.js';
import { TokenCache } from './tokens.js';
import type { AttachRequest, ExecRequest, PortForwardRequest, StreamingRuntime } from './types.js';
import { webSocketByteStream } from './websocket/byte-stream.js';
import {
  acceptWebSocket,
  invalidWebSocketRequest,
  WebSocketConnection,
} from './websocket/connection.js';
import { serveWebSocketCommand } from './ws-command.js';
import { serveWebSocketPortForward, webSocketPorts } from './ws-port-forward.js';

// The CRI streaming server: Exec/Attach/PortForward return a single-use URL here,
// and the client (kubelet, crictl, kubectl through the apiserver) upgrades an HTTP
// request on it to SPDY/3.1 or WebSocket.

export interface StreamingServerConfig {
  /** Listen address; default 127.0.0.1. */
  address?: string;
  /** Listen port; default 0 (any free port). */
  port?: number;
  /** Base of the URLs handed out (e.g. http://node:10010); default from the listening address. */
  baseUrl?: string;
  /** How long a URL stays valid; default 1 minute. */
  tokenTtlMs?: number;
  /** Outstanding URLs at most; default 1000. */
  maxInFlight?: number;
  /** Close a connection idle this long; default 4 hours. */
  idleTimeoutMs?: number;
  /** How long the client has to open its SPDY streams; default 30 s. */
  streamCreationTimeoutMs?: number;
  /** How long output may keep flowing after the command exited; default 2 s. */
  drainTimeoutMs?: number;
}

type Pending =
  | { kind: 'exec'; req: ExecRequest }
  | { kind: 'attach'; req: AttachRequest }
  | { kind: 'portforward'; req: PortForwardRequest };

const ROUTE = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)\/?$/;

export class StreamingServer {
  private readonly http: http.Server;
  private readonly tokens: TokenCache<Pending>;
  private readonly connections = new Set<{ destroy(): void }>();
  private readonly cfg: Required<Omit<StreamingServerConfig, 'baseUrl'>> & { baseUrl?: string };
  private base: string | undefined;

  constructor(
    private readonly runtime: StreamingRuntime,
    config: StreamingServerConfig = {},
  ) {
    this.cfg = {
      address: config.address ?? '127.0.0.1',
      port: config.port ?? 0,
      baseUrl: config.baseUrl,
      tokenTtlMs: config.tokenTtlMs ?? 60_000,
      maxInFlight: config.maxInFlight ?? 1000,
      idleTimeoutMs: config.idleTimeoutMs ?? 4 * 60 * 60 * 1000,
      streamCreationTimeoutMs: config.streamCreationTimeoutMs ?? 30_000,
      drainTimeoutMs: config.drainTimeoutMs ?? 2_000,
    };
    this.tokens = new TokenCache(this.cfg.tokenTtlMs, this.cfg.maxInFlight);
    this.http = http.createServer((req, res) => this.onPlainRequest(req, res));
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket as Socket, head),
    );
    this.http.on('clientError', (_err, socket) => socket.destroy());
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.cfg.port, this.cfg.address, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    const a = this.http.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    this.base = (this.cfg.baseUrl ?? `http://${host}:${a.port}`).replace(/\/+$/, '');
  }

  /** Where the server listens, once started. */
  get address(): AddressInfo {
    const a = this.http.address();
    if (!a || typeof a === 'string') throw errFailedPrecondition('streaming server not started');
    return a;
  }

  /** Upgraded connections currently open. */
  get activeConnections(): number {
    return this.connections.size;
  }

  getExec(req: ExecRequest): { url: string } {
    if (!req.containerId) throw errInvalidArgument('missing container id');
    if (req.cmd.length === 0) throw errInvalidArgument('missing command');
    validateStdio(req);
    return { url: this.issue('exec', { kind: 'exec', req: { ...req, cmd: [...req.cmd] } }) };
  }

  getAttach(req: AttachRequest): { url: string } {
    if (!req.containerId) throw errInvalidArgument('missing container id');
    validateStdio(req);
    return { url: this.issue('attach', { kind: 'attach', req: { ...req } }) };
  }

  getPortForward(req: PortForwardRequest): { url: string } {
    if (!req.podSandboxId) throw errInvalidArgument('missing sandbox id');
    for (const p of req.ports) {
      if (!Number.isInteger(p) || p < 1 || p > 65535) {
        throw errInvalidArgument(`invalid port ${p}`);
      }
    }
    return {
      url: this.issue('portforward', {
        kind: 'portforward',
        req: { ...req, ports: [...req.ports] },
      }),
    };
  }

  /** Stops listening and drops every connection (commands see their signal aborted). */
  async close(): Promise<void> {
    for (const c of [...this.connections]) c.destroy();
    this.connections.clear();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private issue(path: string, pending: Pending): string {
    if (!this.base) throw errFailedPrecondition('streaming server not started');
    return `${this.base}/${path}/${this.tokens.insert(pending)}`;
  }

  private lookup(url: string | undefined): Pending | undefined {
    const m = ROUTE.exec(new URL(url ?? '/', 'http://localhost').pathname);
    if (!m) return undefined;
    const pending = this.tokens.consume(m[2]!);
    return pending?.kind === m[1] ? pending : undefined;
  }

  private onPlainRequest(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    const known = (req.method === 'GET' || req.method === 'POST') && this.lookup(req.url);
    res.writeHead(known ? 400 : 404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(
      known ? 'unable to upgrade: missing upgrade headers in request\n' : '404 page not found\n',
    );
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (req.method !== 'GET' && req.method !== 'POST') {
      return reject(socket, 405, 'method not allowed');
    }
    const pending = this.lookup(req.url);
    if (!pending) return reject(socket, 404, '404 page not found');
    const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
    if (upgrade === 'spdy/3.1') return this.upgradeSpdy(req, socket, head, pending);
    if (upgrade === 'websocket') return this.upgradeWebSocket(req, socket, head, pending);
    reject(socket, 400, `unable to upgrade: unsupported upgrade ${JSON.stringify(upgrade)}`);
  }

  private upgradeSpdy(req: IncomingMessage, socket: Socket, head: Buffer, p: Pending): void {
    const server = p.kind === 'portforward' ? SPDY_PORT_FORWARD_PROTOCOLS : SPDY_COMMAND_PROTOCOLS;
    const offered = headerList(req, HEADER_PROTOCOL_VERSION);
    const protocol = negotiateByServer(offered, server);
    if (protocol === undefined) {
      return reject(
        socket,
        403,
        `unable to upgrade: unable to negotiate protocol: client supports ${JSON.stringify(offered)}, server accepts ${JSON.stringify(server)}`,
        server.map((v) => [HEADER_ACCEPTED_VERSIONS, v]),
      );
    }
    const lines = ['HTTP/1.1 101 Switching Protocols', 'Connection: Upgrade', 'Upgrade: SPDY/3.1'];
    if (protocol) lines.push(`${HEADER_PROTOCOL_VERSION}: ${protocol}`);
    socket.write(lines.join('\r\n') + '\r\n\r\n');
    socket.setNoDelay(true);
    this.startSpdy(socket, head, p, protocol);
  }

  private startSpdy(transport: Duplex, head: Buffer, p: Pending, protocol: string): void {
    const session = new SpdySession(transport, { idleTimeoutMs: this.cfg.idleTimeoutMs });
    this.track(session, session);
    if (p.kind === 'portforward') {
      serveSpdyPortForward(session, p.req, this.runtime, this.cfg);
    } else {
      serveSpdyCommand(session, protocol, p as CommandTarget, this.runtime, this.cfg);
    }
    if (head.length > 0) session.feed(head);
  }

  private upgradeWebSocket(req: IncomingMessage, socket: Socket, head: Buffer, p: Pending): void {
    const invalid = invalidWebSocketRequest(req);
    if (invalid) return reject(socket, 400, `unable to upgrade: ${invalid}`);
    const server = p.kind === 'portforward' ? WS_PORT_FORWARD_PROTOCOLS : WS_COMMAND_PROTOCOLS;
    const offered = headerList(req, 'sec-websocket-protocol');
    const protocol = negotiateByClient(offered, server);
    if (protocol === undefined) {
      return reject(
        socket,
        403,
        `unable to upgrade: requested protocol(s) ${JSON.stringify(offered)} are not supported`,
        server.map((v) => [HEADER_ACCEPTED_VERSIONS, v]),
      );
    }
    let ports: number[] = [];
    if (p.kind === 'portforward' && protocol !== WS_SPDY_TUNNEL) {
      const r = webSocketPorts(req, p.req);
      if (typeof r === 'string') return reject(socket, 400, r);
      ports = r;
    }
    acceptWebSocket(req, socket, protocol);
    socket.setNoDelay(true);
    const ws = new WebSocketConnection(socket, { idleTimeoutMs: this.cfg.idleTimeoutMs });
    if (protocol === WS_SPDY_TUNNEL) {
      this.track(ws, ws);
      this.startSpdy(webSocketByteStream(ws), Buffer.alloc(0), p, '');
    } else {
      this.track(ws, ws);
      if (p.kind === 'portforward') {
        serveWebSocketPortForward(ws, protocol, ports, p.req, this.runtime);
      } else {
        serveWebSocketCommand(ws, protocol, p as CommandTarget, this.runtime, this.cfg);
      }
    }
    if (head.length > 0) ws.feed(head);
  }

  private track(conn: { destroy(): void }, events: { once(e: 'close', fn: () => void): unknown }) {
    this.connections.add(conn);
    events.once('close', () => this.connections.delete(conn));
  }
}

function validateStdio(req: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }) {
  if (!req.stdin && !req.stdout && !req.stderr) {
    throw errInvalidArgument('one of stdin, stdout, or stderr must be set');
  }
  if (req.tty && req.stderr) throw errInvalidArgument('tty and stderr cannot both be true');
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
};

/** Answers a failed upgrade with a plain HTTP error and drops the connection. */
function reject(
  socket: Socket,
  status: number,
  message: string,
  headers: [string, string][] = [],
): void {
  const body = Buffer.from(message + '\n');
  const lines = [
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${body.length}`,
    'Connection: close',
    ...headers.map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), body]));
  setTimeout(() => socket.destroy(), 1_000).unref();
}
