import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OtlpHttpExporter, tracesUrl } from './otlp-exporter.js';
import type { OtlpTraceRequest } from './otlp-json.js';
import { Span, SpanKind } from './span.js';

function span(name: string): Span {
  const s = new Span(
    name,
    SpanKind.Internal,
    { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), sampled: true },
    undefined,
    undefined,
  );
  s.end();
  return s;
}

describe('OTLP/HTTP exporter', () => {
  let server: http.Server;
  let base: string;
  let status = 200;
  const posts: { path: string; type: string; body: OtlpTraceRequest }[] = [];

  beforeEach(async () => {
    posts.length = 0;
    status = 200;
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        posts.push({
          path: req.url ?? '',
          type: req.headers['content-type'] ?? '',
          body: JSON.parse(body),
        });
        res.writeHead(status).end(status === 200 ? '{}' : 'collector says no');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(() => new Promise<void>((r) => server.close(() => r())));

  const names = () =>
    posts.flatMap((p) => p.body.resourceSpans[0]!.scopeSpans[0]!.spans.map((s) => s.name));

  it('adds /v1/traces to a base URL and refuses other schemes', () => {
    expect(tracesUrl('http://h:4318').href).toBe('http://h:4318/v1/traces');
    expect(tracesUrl('http://h:4318/').href).toBe('http://h:4318/v1/traces');
    expect(tracesUrl('https://h/otlp/v1/traces').href).toBe('https://h/otlp/v1/traces');
    expect(() => tracesUrl('grpc://h:4317')).toThrow(/http/);
  });

  it('posts JSON batches of at most maxBatch spans to /v1/traces', async () => {
    const e = new OtlpHttpExporter({
      endpoint: base,
      resource: { 'service.name': 't' },
      scope: { name: 'berth' },
      maxBatch: 2,
      flushIntervalMs: 60_000,
    });
    for (const n of ['a', 'b', 'c']) e.export(span(n));
    await e.flush();
    expect(posts.map((p) => p.path)).toEqual(['/v1/traces', '/v1/traces']);
    expect(posts.every((p) => p.type === 'application/json')).toBe(true);
    expect(posts.map((p) => p.body.resourceSpans[0]!.scopeSpans[0]!.spans.length)).toEqual([2, 1]);
    expect(names()).toEqual(['a', 'b', 'c']);
  });

  it('drops spans beyond the queue bound instead of blocking', async () => {
    const e = new OtlpHttpExporter({
      endpoint: base,
      resource: {},
      scope: { name: 'berth' },
      maxQueue: 2,
      maxBatch: 10,
      flushIntervalMs: 60_000,
    });
    for (const n of ['a', 'b', 'c', 'd']) e.export(span(n));
    expect(e.dropped).toBe(2);
    await e.flush();
    expect(names()).toEqual(['a', 'b']);
  });

  it('reports a failing collector once, never throwing, and exports again when it recovers', async () => {
    const errors: string[] = [];
    const e = new OtlpHttpExporter({
      endpoint: base,
      resource: {},
      scope: { name: 'berth' },
      flushIntervalMs: 60_000,
      onError: (m) => errors.push(m),
    });
    status = 503;
    e.export(span('lost1'));
    await e.flush();
    e.export(span('lost2'));
    await e.flush();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/HTTP 503: collector says no/);
    status = 200;
    e.export(span('kept'));
    await e.shutdown();
    expect(posts.at(-1)!.body.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.name).toBe('kept');
    // Closed: further spans are ignored.
    e.export(span('late'));
    await e.flush();
    expect(names()).not.toContain('late');
  });

  it('sends queued spans on its own after the flush interval', async () => {
    const e = new OtlpHttpExporter({
      endpoint: base,
      resource: {},
      scope: { name: 'berth' },
      flushIntervalMs: 10,
    });
    e.export(span('timed'));
    for (let i = 0; i < 500 && posts.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(names()).toEqual(['timed']);
  });
});
