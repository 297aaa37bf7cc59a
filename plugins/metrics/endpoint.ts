// The metrics endpoint: plain HTTP on a TCP address (`127.0.0.1:1338`,
// `[::1]:1338`) or a unix socket (an absolute path or `unix:///path`),
// answering GET /v1/metrics (containerd's path) and /metrics.

import { rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { errInvalidArgument } from '../../core/errors/catalogue.js';
import { prepareSocketPath, secureSocket } from '../server/listen.js';
import { EXPOSITION_CONTENT_TYPE } from './exposition.js';

export type ListenAddress = { unix: string } | { host: string; port: number };

export const METRICS_PATHS = ['/v1/metrics', '/metrics'];

/** Parses a metrics address; throws InvalidArgument naming what is wrong. */
export function parseListenAddress(address: string): ListenAddress {
  const unix = address.startsWith('unix://') ? address.slice('unix://'.length) : address;
  if (unix.startsWith('/')) return { unix: path.normalize(unix) };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw errInvalidArgument(
      `metrics address ${JSON.stringify(address)} must be host:port or an absolute unix socket path`,
    );
  }
  return { host: m[1] ?? m[2]!, port };
}

export interface MetricsEndpoint {
  /** Where it listens: `host:port` (the bound port) or the socket path. */
  readonly address: string;
  close(): Promise<void>;
}

/** Serves `render()` (the exposition text) on `address`. */
export async function serveMetrics(
  address: string,
  render: () => Promise<string>,
  onError: (err: unknown) => void,
): Promise<MetricsEndpoint> {
  const where = parseListenAddress(address);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://metrics');
    if (!METRICS_PATHS.includes(url.pathname)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end();
      return;
    }
    render().then(
      (text) => {
        res.writeHead(200, { 'content-type': EXPOSITION_CONTENT_TYPE });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err) => {
        onError(err);
        res.writeHead(500, { 'content-type': 'text/plain' }).end('collecting metrics failed\n');
      },
    );
  });
  if ('unix' in where) await prepareSocketPath(where.unix);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve();
    };
    if ('unix' in where) server.listen(where.unix, done);
    else server.listen(where.port, where.host, done);
  });
  server.on('error', onError);
  let bound: string;
  if ('unix' in where) {
    // Container ids and names are no secret from root, but are from everyone else.
    await secureSocket(where.unix, 0o660, 0, 0);
    bound = where.unix;
  } else {
    const a = server.address() as AddressInfo;
    bound = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }
  return {
    address: bound,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if ('unix' in where) await rm(where.unix, { force: true });
    },
  };
}
