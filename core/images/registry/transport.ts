// HTTP for registries over node:http/https: one agent per configured host
// (its CAs and skip_verify), redirects followed with credentials dropped when
// they leave the origin, and a stall timer that fails a request when no byte
// arrives for too long while we wait for one. Time spent waiting on our own
// consumer (backpressure) is never counted.

import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { BerthError } from '../../errors/catalogue.js';
import type { RegistryHost } from './hosts.js';

export const DEFAULT_STALL_TIMEOUT_MS = 60_000;
const MAX_REDIRECTS = 10;

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** A body of known length; a function is called once per attempt. */
  body?: Uint8Array | (() => AsyncIterable<Uint8Array>);
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  statusText: string;
  headers: http.IncomingHttpHeaders;
  /** URL of the final response after redirects. */
  url: string;
  message: http.IncomingMessage;
}

/** No data for the stall timeout; carries what was being transferred. */
export class StallError extends BerthError {
  constructor(what: string, ms: number) {
    super('DeadlineExceeded', `${what}: stalled, no data received for ${Math.round(ms / 1000)}s`);
  }
}

function header(h: http.IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

export { header as responseHeader };

export class Transport {
  private readonly agents = new Map<string, http.Agent>();

  constructor(readonly stallTimeoutMs = DEFAULT_STALL_TIMEOUT_MS) {}

  /** The agent for requests to `host`; undefined uses Node's default agents. */
  private agentFor(host: RegistryHost | undefined, url: URL): http.Agent | undefined {
    if (!host || url.host !== host.host || url.protocol !== `${host.scheme}:`) return undefined;
    const key = `${host.scheme}://${host.host}|${host.skipVerify}|${host.caFiles.join(',')}`;
    let agent = this.agents.get(key);
    if (!agent) {
      if (host.scheme === 'https') {
        const extra = host.caFiles.map((f) => fs.readFileSync(f, 'utf8'));
        agent = new https.Agent({
          keepAlive: true,
          rejectUnauthorized: !host.skipVerify,
          ca: extra.length ? [...tls.rootCertificates, ...extra] : undefined,
        });
      } else {
        agent = new http.Agent({ keepAlive: true });
      }
      this.agents.set(key, agent);
    }
    return agent;
  }

  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }

  /**
   * One request, following redirects for GET and HEAD. The response body is
   * left unread; read it with `body()` or discard it with `discard()`.
   */
  async request(req: HttpRequest, host?: RegistryHost): Promise<HttpResponse> {
    let url = new URL(req.url);
    const origin = url.origin;
    let headers = { ...req.headers };
    for (let hop = 0; ; hop++) {
      const res = await this.once(req, url, headers, host);
      const location = header(res.headers, 'location');
      const redirect =
        [301, 302, 303, 307, 308].includes(res.status) &&
        location !== undefined &&
        (req.method === 'GET' || req.method === 'HEAD');
      if (!redirect) return res;
      discard(res);
      if (hop >= MAX_REDIRECTS) {
        throw new BerthError('Unavailable', `${req.method} ${req.url}: too many redirects`);
      }
      url = new URL(location, url);
      // Storage backends sign their own URLs; our registry credentials stay home.
      if (url.origin !== origin) {
        headers = Object.fromEntries(
          Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'),
        );
      }
    }
  }

  private once(
    req: HttpRequest,
    url: URL,
    headers: Record<string, string>,
    host: RegistryHost | undefined,
  ): Promise<HttpResponse> {
    const mod = url.protocol === 'https:' ? https : http;
    const body = req.body;
    return new Promise<HttpResponse>((resolve, reject) => {
      const r = mod.request(url, {
        method: req.method,
        headers: {
          ...headers,
          ...(body instanceof Uint8Array ? { 'content-length': String(body.length) } : {}),
        },
        agent: this.agentFor(host, url),
        signal: req.signal,
      });
      // Until the headers arrive the socket timeout is the stall timer.
      r.setTimeout(this.stallTimeoutMs, () =>
        r.destroy(new StallError(`${req.method} ${url.href}`, this.stallTimeoutMs)),
      );
      r.once('error', reject);
      r.once('response', (message) => {
        r.setTimeout(0);
        resolve({
          status: message.statusCode ?? 0,
          statusText: message.statusMessage ?? '',
          headers: message.headers,
          url: url.href,
          message,
        });
      });
      if (body === undefined) r.end();
      else if (body instanceof Uint8Array) r.end(body);
      else {
        void (async () => {
          try {
            for await (const chunk of body()) {
              if (!r.write(chunk)) await new Promise((ok) => r.once('drain', ok));
            }
            r.end();
          } catch (err) {
            r.destroy(err as Error);
          }
        })();
      }
    });
  }
}

/** Drops a response body we do not need, keeping the connection usable. */
export function discard(res: HttpResponse): void {
  res.message.resume();
}

/**
 * The response body as chunks. A wait for the next chunk longer than the
 * stall timeout fails with StallError; a slow consumer never does.
 */
export async function* body(
  res: HttpResponse,
  stallTimeoutMs: number,
  what: string,
): AsyncGenerator<Buffer> {
  const it = res.message[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let done = false;
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new StallError(what, stallTimeoutMs)), stallTimeoutMs);
      });
      let r: IteratorResult<Buffer>;
      try {
        r = await Promise.race([it.next(), stalled]);
      } finally {
        clearTimeout(timer);
      }
      if (r.done) {
        done = true;
        return;
      }
      yield r.value;
    }
  } finally {
    if (!done) res.message.destroy();
  }
}

/** The whole body, refusing more than `max` bytes. */
export async function readAll(
  res: HttpResponse,
  stallTimeoutMs: number,
  what: string,
  max: number,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of body(res, stallTimeoutMs, what)) {
    n += chunk.length;
    if (n > max) throw new BerthError('InvalidArgument', `${what}: larger than ${max} bytes`);
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}
