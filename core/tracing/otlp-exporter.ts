// Ships ended spans to an OTLP/HTTP collector as JSON: queued in memory,
// posted in batches, one request at a time. Exporting never blocks or fails
// the traced work: a full queue drops spans (counted), a failed post is
// reported once until a post succeeds again.

import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import { createRequire } from 'node:module';
import { otlpTraceRequest } from './otlp-json.js';
import type { Attributes, Span, SpanSink } from './span.js';

export interface OtlpExporterOptions {
  /** Collector base URL (`http://127.0.0.1:4318`); `/v1/traces` is added unless present. */
  endpoint: string;
  /** Resource attributes, `service.name` at least. */
  resource: Attributes;
  scope: { name: string; version?: string };
  /** Spans held at most; more are dropped. */
  maxQueue?: number;
  /** Spans per request. */
  maxBatch?: number;
  /** How long a span may wait for its batch to fill. */
  flushIntervalMs?: number;
  /** A post taking longer is abandoned (its spans are lost). */
  requestTimeoutMs?: number;
  onError?: (message: string) => void;
}

/** OpenTelemetry's variable for the collector's base URL: berthd sets it for its shims. */
export const OTLP_ENDPOINT_ENV = 'OTEL_EXPORTER_OTLP_ENDPOINT';

const TRACES_PATH = '/v1/traces';
const load = createRequire(import.meta.url);

/** The URL spans are posted to; throws on anything but an http(s) URL. */
export function tracesUrl(endpoint: string): URL {
  const url = new URL(endpoint);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`OTLP endpoint ${endpoint} must be an http:// or https:// URL`);
  }
  if (!url.pathname.endsWith(TRACES_PATH)) {
    url.pathname = url.pathname.replace(/\/+$/, '') + TRACES_PATH;
  }
  return url;
}

export class OtlpHttpExporter implements SpanSink {
  readonly url: URL;
  /** Spans dropped because the queue was full. */
  dropped = 0;
  private queue: Span[] = [];
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private failing = false;
  private closed = false;
  private readonly maxQueue: number;
  private readonly maxBatch: number;

  constructor(private readonly o: OtlpExporterOptions) {
    this.url = tracesUrl(o.endpoint);
    this.maxQueue = o.maxQueue ?? 2048;
    this.maxBatch = o.maxBatch ?? 512;
  }

  export(span: Span): void {
    if (this.closed) return;
    if (this.queue.length >= this.maxQueue) {
      this.dropped++;
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= this.maxBatch) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.o.flushIntervalMs ?? 1000);
      this.timer.unref(); // pending spans never keep a process alive
    }
  }

  /** Posts everything queued; resolves when the queue is empty (errors are reported, not thrown). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
    return this.draining;
  }

  /** Stops accepting spans and flushes, waiting at most `timeoutMs`. */
  async shutdown(timeoutMs = 3000): Promise<void> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.flush(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      const body = JSON.stringify(otlpTraceRequest(batch, this.o.resource, this.o.scope));
      try {
        await this.post(body);
        this.failing = false;
      } catch (err) {
        if (!this.failing) {
          this.o.onError?.(
            `exporting ${batch.length} spans to ${this.url.href} failed: ${(err as Error).message}`,
          );
        }
        this.failing = true;
      }
    }
  }

  private async post(body: string): Promise<void> {
    // Loaded on first export, so a process that never exports never pays for
    // them (a shim starts faster without). require, not import(): the daemon's
    // code-cached bundle runs where dynamic import() is unavailable.
    const { request } = load(
      this.url.protocol === 'https:' ? 'node:https' : 'node:http',
    ) as typeof import('node:http');
    const opts: RequestOptions = {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      },
      timeout: this.o.requestTimeoutMs ?? 10_000,
    };
    await new Promise<void>((resolve, reject) => {
      const req: ClientRequest = request(this.url, opts, (res: IncomingMessage) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (text.length < 512) text += d;
        });
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve();
          else reject(new Error(`HTTP ${status}${text ? `: ${text.trim().slice(0, 200)}` : ''}`));
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
      req.end(body);
    });
  }
}
