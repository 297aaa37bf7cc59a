// berthd's gRPC listener. It owns the unix socket (instead of grpc-js's
// bindAsync) so every connection goes through an H2Relay before it reaches
// grpc-js through a connection injector: requests with a socket path or no
// :authority are accepted, non-HTTP/2 and silent connections are closed, and
// sockets close with their HTTP/2 session. See docs/grpc.md.

import net from 'node:net';
import type { Logger } from 'pino';
import { H2Relay } from './h2-relay.js';
import { SocketPairs } from './socket-pairs.js';

/** A client sends its preface first thing; a connection silent this long is not one. */
export const PREFACE_TIMEOUT_MS = 10_000;
/** At most one warning per interval for refused connections; the rest go to debug. */
const WARN_INTERVAL_MS = 10_000;

export interface FrontDoorOptions {
  log: Logger;
  /** Gets the server end of each connection past the preface (grpc-js's injectConnection). */
  inject(conn: net.Socket): void;
  /** Where the private listener for socket pairs goes (a path only this daemon uses). */
  pairPath: string;
  prefaceTimeoutMs?: number;
}

export class GrpcFrontDoor {
  private readonly server: net.Server;
  private readonly pairs: SocketPairs;
  private readonly connections = new Set<H2Relay>();
  private lastWarn = 0;
  private suppressed = 0;

  constructor(private readonly opts: FrontDoorOptions) {
    this.server = net.createServer((socket) => this.accept(socket));
    this.pairs = new SocketPairs(opts.pairPath);
  }

  async listen(path: string): Promise<void> {
    await this.pairs.listen();
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(path, () => {
        this.server.off('error', reject);
        // Out of file descriptors, accept fails: say so, and keep serving.
        this.server.on('error', (err) => this.warn({ err }, 'gRPC listener accept failed'));
        resolve();
      });
    });
  }

  /** Connections open right now (for tests and introspection). */
  get size(): number {
    return this.connections.size;
  }

  /** Stops accepting; open connections carry on until closed. */
  stopAccepting(): void {
    if (this.server.listening) this.server.close();
  }

  /** Stops accepting and closes every connection still open. */
  close(): void {
    this.stopAccepting();
    this.pairs.close();
    for (const c of this.connections) c.close();
  }

  private accept(socket: net.Socket): void {
    const { log } = this.opts;
    const relay = new H2Relay(
      socket,
      {
        pair: () => this.pairs.pair(),
        inject: (theirs) => this.opts.inject(theirs),
        refused: (reason, detail) => this.warn(detail, `gRPC connection closed: ${reason}`),
        note: (msg, detail) => log.debug(detail, `gRPC connection: ${msg}`),
      },
      this.opts.prefaceTimeoutMs ?? PREFACE_TIMEOUT_MS,
    );
    this.connections.add(relay);
    void relay.done.then(() => this.connections.delete(relay));
  }

  /** A warning at most once per interval, counting what was held back; debug otherwise. */
  private warn(detail: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    if (now - this.lastWarn < WARN_INTERVAL_MS) {
      this.suppressed++;
      this.opts.log.debug(detail, msg);
      return;
    }
    const suppressed = this.suppressed || undefined;
    this.lastWarn = now;
    this.suppressed = 0;
    this.opts.log.warn({ ...detail, suppressed }, msg);
  }
}
