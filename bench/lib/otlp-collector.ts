// An OTLP/HTTP trace collector on 127.0.0.1 for the benchmarks: it keeps every
// span posted to /v1/traces, in JSON (berthd and berth-shim) or protobuf
// (containerd), gzip or not, with the service that sent it.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { OtlpTraceRequest } from '../../core/tracing/otlp-json.js';
import type { Cleanup } from './cleanup.js';
import { sleep } from './processes.js';
import { type CollectedSpan, decodeTraceRequest } from './otlp-protobuf.js';

export type { CollectedSpan };

export interface Collector {
  /** Base URL for `[tracing] endpoint` or OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint: string;
  spans: CollectedSpan[];
  /** Requests the collector could not decode (each also printed on stderr). */
  rejected: number;
  /** Resolves once no span has arrived for `quietMs` from now (exporters post on a timer), or after `maxMs`. */
  settle(quietMs: number, maxMs: number): Promise<void>;
  close(): Promise<void>;
}

function fromJson(doc: OtlpTraceRequest): CollectedSpan[] {
  const out: CollectedSpan[] = [];
  for (const rs of doc.resourceSpans ?? []) {
    const service =
      rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          service,
          traceId: s.traceId,
          spanId: s.spanId,
          ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
          name: s.name,
          startNs: BigInt(s.startTimeUnixNano),
          endNs: BigInt(s.endTimeUnixNano),
        });
      }
    }
  }
  return out;
}

export async function startCollector(cleanup: Cleanup): Promise<Collector> {
  const spans: CollectedSpan[] = [];
  let lastArrival = Date.now();
  const c = { rejected: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      try {
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        const json = (req.headers['content-type'] ?? '').startsWith('application/json');
        const got = json
          ? fromJson(JSON.parse(body.toString('utf8')) as OtlpTraceRequest)
          : decodeTraceRequest(body);
        spans.push(...got);
        lastArrival = Date.now();
        // An empty ExportTraceServiceResponse, in the encoding of the request.
        res.writeHead(200, {
          'content-type': json ? 'application/json' : 'application/x-protobuf',
        });
        res.end(json ? '{}' : undefined);
      } catch (err) {
        c.rejected++;
        process.stderr.write(`otlp collector: bad request: ${(err as Error).message}\n`);
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  const closing = cleanup.defer('stop the OTLP collector', close);
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    get rejected() {
      return c.rejected;
    },
    async settle(quietMs, maxMs) {
      const since = Date.now();
      const deadline = since + maxMs;
      const quiet = () => Date.now() - Math.max(lastArrival, since) >= quietMs;
      while (!quiet() && Date.now() < deadline) await sleep(100);
    },
    close: closing.now,
  };
}
