// The call channel as the adapter publishes it, with the two real subscribers:
// the gRPC metrics and the server spans.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { credentials, Metadata, Server, ServerCredentials, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ContainersClient,
  ContainersService,
} from '../../api/gen/containerd/services/containers/v1/containers.js';
import { errInternal, errNotFound } from '../../core/errors/catalogue.js';
import { activeTraceHeaders } from '../../core/tracing/active-span.js';
import type { Span } from '../../core/tracing/span.js';
import { Tracer } from '../../core/tracing/tracer.js';
import { formatFamilies } from '../metrics/exposition.js';
import { recordGrpcCalls } from '../metrics/grpc-metrics.js';
import { Registry } from '../metrics/registry.js';
import { traceGrpcCalls } from '../tracing/grpc-spans.js';
import { grpcCallChannel } from './call-channel.js';
import { adaptService } from './grpc-adapter.js';

const SERVICE = 'containerd.services.containers.v1.Containers';
const PARENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';

describe('gRPC call channel', () => {
  let dir: string;
  let server: Server;
  let client: ContainersClient;
  const spans: Span[] = [];
  const registry = new Registry();
  /** The trace headers a method saw as active (what a ttrpc call from it would send). */
  const seenHeaders: (string | undefined)[] = [];
  let unsubscribe: (() => void)[] = [];

  beforeAll(async () => {
    expect(grpcCallChannel.hasSubscribers).toBe(false);
    unsubscribe = [
      traceGrpcCalls(new Tracer({ export: (s) => spans.push(s) }, 1)),
      recordGrpcCalls(registry),
    ];
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-call-channel-'));
    const sock = `unix://${dir}/s.sock`;
    server = new Server();
    server.addService(
      ContainersService,
      adaptService(
        ContainersService,
        {
          async get(req) {
            await new Promise((r) => setTimeout(r, 1));
            seenHeaders.push(activeTraceHeaders()?.traceparent);
            if (req.id === 'boom') throw errInternal('database on fire');
            throw errNotFound(`container ${req.id}`);
          },
          async *listStream() {
            yield { container: { id: 'a', labels: {}, extensions: {} } } as never;
          },
        },
        ['list', 'create', 'update', 'delete'],
      ),
    );
    await new Promise<void>((res, rej) =>
      server.bindAsync(sock, ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())),
    );
    client = new ContainersClient(sock, credentials.createInsecure());
  });

  afterAll(async () => {
    unsubscribe.forEach((u) => u());
    client?.close();
    server?.forceShutdown();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const md = (traceparent?: string) => {
    const m = new Metadata();
    m.set('containerd-namespace', 'team');
    if (traceparent) m.set('traceparent', traceparent);
    return m;
  };
  const get = (id: string, m: Metadata) =>
    new Promise<{ code: number }>((r) => client.get({ id }, m, (e) => r(e as { code: number })));

  it('makes a server span, child of the incoming traceparent, active while the method runs', async () => {
    const err = await get('x', md(`00-${PARENT_TRACE}-${PARENT_SPAN}-01`));
    expect(err.code).toBe(status.NOT_FOUND);
    const span = spans.find((s) => s.context.traceId === PARENT_TRACE)!;
    expect(span.name).toBe(`${SERVICE}/Get`);
    expect(span.kind).toBe(2);
    expect(span.parentSpanId).toBe(PARENT_SPAN);
    expect(span.attributes).toMatchObject({
      'rpc.system': 'grpc',
      'rpc.service': SERVICE,
      'rpc.method': 'Get',
      'rpc.grpc.status_code': status.NOT_FOUND,
      'containerd.namespace': 'team',
    });
    // A refusal is the caller's business, not a server fault.
    expect(span.status.code).toBe(0);
    expect(seenHeaders.at(-1)).toBe(`00-${PARENT_TRACE}-${span.context.spanId}-01`);
  });

  it('starts a new trace without a traceparent and marks server faults', async () => {
    const before = spans.length;
    expect((await get('boom', md())).code).toBe(status.INTERNAL);
    const span = spans[before]!;
    expect(span.parentSpanId).toBeUndefined();
    expect(span.context.traceId).not.toBe(PARENT_TRACE);
    expect(span.status).toEqual({ code: 2, message: 'gRPC status Internal' });
  });

  it('counts calls by method, type and code, and times them', async () => {
    for await (const _ of client.listStream({ filters: [] }, md())) void _;
    const unimpl = await new Promise<{ code: number }>((r) =>
      client.delete({ id: 'x' }, md(), (e) => r(e as { code: number })),
    );
    expect(unimpl.code).toBe(status.UNIMPLEMENTED);
    const text = formatFamilies(await registry.gather());
    const line = (s: string) => text.split('\n').find((l) => l.startsWith(s));
    const get = `grpc_service="${SERVICE}",grpc_method="Get",grpc_type="unary"`;
    expect(line(`grpc_server_started_total{${get}}`)).toBe(`grpc_server_started_total{${get}} 2`);
    expect(line(`grpc_server_handled_total{${get},grpc_code="NotFound"}`)).toMatch(/ 1$/);
    expect(line(`grpc_server_handled_total{${get},grpc_code="Internal"}`)).toMatch(/ 1$/);
    const stream = `grpc_service="${SERVICE}",grpc_method="ListStream",grpc_type="server_stream"`;
    expect(line(`grpc_server_handled_total{${stream},grpc_code="OK"}`)).toMatch(/ 1$/);
    const del = `grpc_service="${SERVICE}",grpc_method="Delete",grpc_type="unary"`;
    expect(line(`grpc_server_handled_total{${del},grpc_code="Unimplemented"}`)).toMatch(/ 1$/);
    expect(line(`grpc_server_handling_seconds_count{${get}}`)).toBe(
      `grpc_server_handling_seconds_count{${get}} 2`,
    );
  });

  it('has no subscribers once both unsubscribe', () => {
    unsubscribe.forEach((u) => u());
    unsubscribe = [];
    expect(grpcCallChannel.hasSubscribers).toBe(false);
  });
});
