import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanup } from './cleanup.js';
import { type Collector, startCollector } from './otlp-collector.js';
import { decodeTraceRequest } from './otlp-protobuf.js';

/** An ExportTraceServiceRequest as containerd's exporter encodes it, with fields we skip mixed in. */
function protobufRequest(): Uint8Array {
  const kv = (key: string, value: string) =>
    new BinaryWriter().uint32(10).string(key).uint32(18).bytes(
      new BinaryWriter().uint32(10).string(value).finish(), // AnyValue.string_value
    );
  const resource = new BinaryWriter()
    .uint32(10)
    .bytes(kv('host.name', 'h').finish())
    .uint32(10)
    .bytes(kv('service.name', 'containerd').finish());
  const span = new BinaryWriter()
    .uint32(10)
    .bytes(Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex')) // trace_id
    .uint32(18)
    .bytes(Buffer.from('1112131415161718', 'hex')) // span_id
    .uint32(34)
    .bytes(Buffer.from('2122232425262728', 'hex')) // parent_span_id
    .uint32(42)
    .string('containerd.task.v3.Task/Create') // name
    .uint32(48)
    .int32(3) // kind: skipped
    .uint32(57)
    .fixed64(1_000_000_000n) // start_time_unix_nano
    .uint32(65)
    .fixed64(1_002_500_000n); // end_time_unix_nano
  const scope = new BinaryWriter()
    .uint32(10)
    .bytes(new BinaryWriter().uint32(10).string('scope').finish())
    .uint32(18)
    .bytes(span.finish());
  const resourceSpans = new BinaryWriter()
    .uint32(10)
    .bytes(resource.finish())
    .uint32(18)
    .bytes(scope.finish());
  return new BinaryWriter().uint32(10).bytes(resourceSpans.finish()).finish();
}

const expected = {
  service: 'containerd',
  traceId: '0102030405060708090a0b0c0d0e0f10',
  spanId: '1112131415161718',
  parentSpanId: '2122232425262728',
  name: 'containerd.task.v3.Task/Create',
  startNs: 1_000_000_000n,
  endNs: 1_002_500_000n,
};

function post(url: string, body: Buffer, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/traces`, { method: 'POST', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('decodeTraceRequest', () => {
  it('reads the span fields and the service name, skipping the rest', () => {
    expect(decodeTraceRequest(protobufRequest())).toEqual([expected]);
  });
});

describe('startCollector', () => {
  const cleanup = new Cleanup();
  let c: Collector | undefined;
  afterEach(() => cleanup.run());

  it('keeps spans posted as JSON or gzipped protobuf, and refuses what it cannot decode', async () => {
    c = await startCollector(cleanup);
    const json = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'berthd' } }] },
          scopeSpans: [
            {
              scope: { name: 'berth' },
              spans: [
                {
                  traceId: 'ab'.repeat(16),
                  spanId: 'cd'.repeat(8),
                  name: 'runc create',
                  kind: 1,
                  startTimeUnixNano: '5',
                  endTimeUnixNano: '7',
                  attributes: [],
                  status: { code: 0 },
                },
              ],
            },
          ],
        },
      ],
    };
    expect(
      await post(c.endpoint, Buffer.from(JSON.stringify(json)), {
        'content-type': 'application/json',
      }),
    ).toBe(200);
    expect(
      await post(c.endpoint, gzipSync(protobufRequest()), {
        'content-type': 'application/x-protobuf',
        'content-encoding': 'gzip',
      }),
    ).toBe(200);
    expect(await post(c.endpoint, Buffer.from('{'), { 'content-type': 'application/json' })).toBe(
      400,
    );
    expect(c.spans).toEqual([
      {
        service: 'berthd',
        traceId: 'ab'.repeat(16),
        spanId: 'cd'.repeat(8),
        name: 'runc create',
        startNs: 5n,
        endNs: 7n,
      },
      expected,
    ]);
    expect(c.rejected).toBe(1);
  });
});
