import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TaskDefinition } from '../api/gen/containerd/task/v2/shim.js';
import { errNotFound } from '../core/errors/catalogue.js';
import { activeSpan } from '../core/tracing/active-span.js';
import type { Span } from '../core/tracing/span.js';
import { Tracer } from '../core/tracing/tracer.js';
import type { CallContext, ServiceImplementation } from '../core/ttrpc/server.js';
import { Runc } from './runc.js';
import { shimTracing, tracedService } from './tracing.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

function ctx(md: Record<string, string> = {}): CallContext {
  return {
    metadata: new Map(Object.entries(md).map(([k, v]) => [k, [v]])),
    signal: new AbortController().signal,
  } as CallContext;
}

describe('shim tracing', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-shim-tracing-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is off without OTEL_EXPORTER_OTLP_ENDPOINT, and reports a bad one', () => {
    expect(shimTracing('v', () => {}, {})).toBeUndefined();
    const errors: string[] = [];
    expect(
      shimTracing('v', (m) => errors.push(m), { OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://x' }),
    ).toBeUndefined();
    expect(errors[0]).toMatch(/tracing off/);
    expect(
      shimTracing('v', () => {}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }),
    ).toBeDefined();
  });

  it('traces a Task call that carries a traceparent, and only such calls', async () => {
    const spans: Span[] = [];
    const active: (Span | undefined)[] = [];
    const impl = {
      async state() {
        active.push(activeSpan());
        return {};
      },
      async kill() {
        throw errNotFound('process');
      },
    } as unknown as ServiceImplementation<typeof TaskDefinition>;
    const traced = tracedService(
      TaskDefinition,
      impl,
      new Tracer({ export: (s) => spans.push(s) }),
    );
    const call = (name: 'state' | 'kill', md?: Record<string, string>) =>
      (traced[name] as (r: unknown, c: CallContext) => Promise<unknown>)({ id: 'c' }, ctx(md));

    await call('state');
    expect(spans).toEqual([]);
    expect(active[0]).toBeUndefined();

    await call('state', { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'k=v' });
    expect(spans).toHaveLength(1);
    const s = spans[0]!;
    expect(s.name).toBe('containerd.task.v2.Task/State');
    expect(s.kind).toBe(2);
    expect(s.context.traceId).toBe(TRACE);
    expect(s.parentSpanId).toBe(PARENT);
    expect(s.context.traceState).toBe('k=v');
    expect(active[1]).toBe(s);

    await expect(call('kill', { traceparent: `00-${TRACE}-${PARENT}-01` })).rejects.toThrow(
      /not found/,
    );
    expect(spans[1]!.status).toMatchObject({ code: 2 });
  });

  it('hands runc the span of its invocation as TRACEPARENT, a child of the active span', async () => {
    const out = path.join(dir, 'env');
    const fake = path.join(dir, 'runc');
    writeFileSync(fake, `#!/bin/sh\necho "\${TRACEPARENT:-none}" >> ${out}\n`, { mode: 0o755 });
    const spans: Span[] = [];
    const tracer = new Tracer({ export: (s) => spans.push(s) });
    const runc = new Runc({ binary: fake, root: dir });
    await runc.start('plain');
    const traced = tracedService(
      TaskDefinition,
      { start: async () => runc.start('traced') } as unknown as ServiceImplementation<
        typeof TaskDefinition
      >,
      tracer,
    );
    await (traced.start as (r: unknown, c: CallContext) => Promise<unknown>)(
      {},
      ctx({ traceparent: `00-${TRACE}-${PARENT}-01` }),
    );
    const [plain, withTrace] = readFileSync(out, 'utf8').trim().split('\n');
    expect(plain).toBe('none');
    const runcSpan = spans.find((s) => s.name === 'runc start')!;
    const taskSpan = spans.find((s) => s.name === 'containerd.task.v2.Task/Start')!;
    expect(runcSpan.parentSpanId).toBe(taskSpan.context.spanId);
    expect(withTrace).toBe(`00-${TRACE}-${runcSpan.context.spanId}-01`);
  });
});
