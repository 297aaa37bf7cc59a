// Tracing end to end: berthd with `[tracing] endpoint` pointing at an OTLP/HTTP
// collector in this process. Calls arrive with a W3C traceparent (as a kubelet
// with tracing on sends it); the daemon's server span continues that trace, its
// ttrpc calls carry it to the shim, and the shim exports its own spans (and
// runc's) as children, to the same collector.

import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { credentials, Metadata } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TasksClient } from '../api/gen/containerd/services/tasks/v1/tasks.js';
import { RunPodSandboxRequest, RuntimeServiceClient } from '../api/gen/cri/runtime/v1/api.js';
import { Client } from '../client/client.js';
import { generateDefaultSpec, withEnv, withProcessArgs, withRootfs } from '../core/oci/index.js';
import type { OtlpSpan, OtlpTraceRequest } from '../core/tracing/otlp-json.js';
import { busyboxAvailable, makeBusyboxRootfs } from './fixtures/busybox-rootfs.js';
import { type CriEnv, podConfig, startCriEnv, waitFor } from './helpers/cri.js';
import { killLeftoverShims, removeAllTasks } from './helpers/tasks.js';

const isRoot = process.getuid?.() === 0;
const haveCni = fs.existsSync('/usr/lib/cni/bridge');

interface Collected extends OtlpSpan {
  service: string;
}

/** An OTLP/HTTP JSON collector on 127.0.0.1: every span posted, with its service.name. */
async function startCollector() {
  const spans: Collected[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const doc = JSON.parse(body) as OtlpTraceRequest;
      for (const rs of doc.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value
          .stringValue!;
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    spans,
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

const hex = (n: number) =>
  [...Array(n)].map(() => Math.floor(Math.random() * 16).toString(16)).join('');

/** Incoming W3C headers, as a caller with tracing on sends them. */
function traced(namespace: string) {
  const traceId = hex(32);
  const parentId = hex(16);
  const md = new Metadata();
  md.set('containerd-namespace', namespace);
  md.set('traceparent', `00-${traceId}-${parentId}-01`);
  return { traceId, parentId, md };
}

describe.skipIf(!isRoot || !haveCni || !busyboxAvailable())('tracing', () => {
  let collector: Awaited<ReturnType<typeof startCollector>> | undefined;
  let env: CriEnv | undefined;
  let runtime: RuntimeServiceClient | undefined;
  let tasks: TasksClient | undefined;
  let client: Client | undefined;
  let tmp: string | undefined;
  const NS = `tracing${process.pid}`;

  beforeAll(async () => {
    collector = await startCollector();
    env = await startCriEnv({
      topLevelConfig: `[tracing]\nendpoint = "${collector.endpoint}"\nsampling_ratio = 0.0`,
    });
    const target = `unix://${env.d.address}`;
    runtime = new RuntimeServiceClient(target, credentials.createInsecure());
    tasks = new TasksClient(target, credentials.createInsecure());
    client = new Client({ address: env.d.address, namespace: NS });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-tracing-'));
  });

  afterAll(async () => {
    if (client) {
      await removeAllTasks(client);
      client.close();
    }
    runtime?.close();
    tasks?.close();
    if (env) killLeftoverShims(env.d.state);
    await env?.dispose();
    await collector?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** The spans of `traceId`, once `ready` holds for them (shims export about once a second). */
  const trace = (traceId: string, ready: (spans: Collected[]) => boolean) =>
    waitFor(async () => collector!.spans.filter((s) => s.traceId === traceId), ready, 60_000);
  const named = (spans: Collected[], name: string) => spans.filter((s) => s.name === name);

  it('continues a CRI caller trace through RunPodSandbox into the pod shim and runc', async () => {
    const { traceId, parentId, md } = traced('k8s.io');
    const cfg = podConfig('traced', '');
    const { podSandboxId } = await new Promise<{ podSandboxId: string }>((resolve, reject) =>
      runtime!.runPodSandbox(RunPodSandboxRequest.fromJSON({ config: cfg }), md, (err, res) =>
        err ? reject(err) : resolve(res!),
      ),
    );
    try {
      const spans = await trace(
        traceId,
        (s) =>
          named(s, 'runtime.v1.RuntimeService/RunPodSandbox').length === 1 &&
          named(s, 'containerd.task.v2.Task/Start').length > 0 &&
          named(s, 'runc create').length > 0,
      );
      const server = named(spans, 'runtime.v1.RuntimeService/RunPodSandbox')[0]!;
      expect(server).toMatchObject({ service: 'berthd', kind: 2, parentSpanId: parentId });
      expect(server.attributes).toContainEqual({
        key: 'rpc.grpc.status_code',
        value: { intValue: '0' },
      });

      // The shim's spans hang under the daemon's server span; runc's under the shim's.
      const create = named(spans, 'containerd.task.v2.Task/Create')[0]!;
      expect(create).toMatchObject({ service: 'berth-shim', kind: 2, parentSpanId: server.spanId });
      expect(named(spans, 'containerd.task.v2.Task/Start')[0]!.parentSpanId).toBe(server.spanId);
      const runc = named(spans, 'runc create')[0]!;
      expect(runc).toMatchObject({ service: 'berth-shim', parentSpanId: create.spanId });
      for (const s of spans) {
        expect(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano), s.name).toBe(true);
      }
    } finally {
      await new Promise((r) => runtime!.removePodSandbox({ podSandboxId }, new Metadata(), r));
    }
  });

  it("records the daemon's and the shim's steps of a pod's start, stop and removal", async () => {
    /** A call under a trace of its own (as a traced kubelet makes it), and that trace's id. */
    const tracedCall = <R>(
      fn: (md: Metadata, done: (err: Error | null, res: R) => void) => void,
    ) => {
      const t = traced('k8s.io');
      return new Promise<{ traceId: string; res: R }>((resolve, reject) =>
        fn(t.md, (err, res) => (err ? reject(err) : resolve({ traceId: t.traceId, res }))),
      );
    };
    const config = podConfig('steps', '');
    const run = await tracedCall<{ podSandboxId: string }>((md, done) =>
      runtime!.runPodSandbox(RunPodSandboxRequest.fromJSON({ config }), md, done),
    );
    const podSandboxId = run.res.podSandboxId;
    let removed = false;
    try {
      const stop = await tracedCall((md, done) =>
        runtime!.stopPodSandbox({ podSandboxId }, md, done),
      );
      const remove = await tracedCall((md, done) =>
        runtime!.removePodSandbox({ podSandboxId }, md, done),
      );
      removed = true;

      /** The spans of a trace once all `names` are in, and the one named `name`. */
      const spansOf = async (traceId: string, names: string[]) => {
        const spans = await trace(traceId, (s) => names.every((n) => named(s, n).length > 0));
        return (name: string) => named(spans, name)[0]!;
      };
      const childOf = (parent: { spanId: string }, ...kids: { parentSpanId?: string }[]) => {
        for (const k of kids) expect(k.parentSpanId).toBe(parent.spanId);
      };

      const daemonSteps = ['netns create', 'cni setup', 'snapshot prepare', 'bundle create'];
      const runp = await spansOf(run.traceId, [
        'runtime.v1.RuntimeService/RunPodSandbox',
        ...daemonSteps,
        'shim start',
        'shim connect',
        'cni ADD bridge',
        'cni ADD loopback',
        'containerd.task.v2.Task/Create',
        'rootfs mount',
      ]);
      const server = runp('runtime.v1.RuntimeService/RunPodSandbox');
      childOf(server, ...[...daemonSteps, 'shim start', 'shim connect'].map(runp));
      for (const n of daemonSteps) expect(runp(n).service).toBe('berthd');
      childOf(runp('cni setup'), runp('cni ADD bridge'), runp('cni ADD loopback'));
      childOf(runp('containerd.task.v2.Task/Create'), runp('rootfs mount'));
      expect(runp('rootfs mount').service).toBe('berth-shim');

      const stopp = await spansOf(stop.traceId, [
        'runtime.v1.RuntimeService/StopPodSandbox',
        'cni teardown',
        'cni DEL bridge',
        'netns remove',
        'exit recorded',
      ]);
      const stopServer = stopp('runtime.v1.RuntimeService/StopPodSandbox');
      childOf(stopServer, stopp('cni teardown'), stopp('netns remove'), stopp('exit recorded'));
      childOf(stopp('cni teardown'), stopp('cni DEL bridge'));

      const rmp = await spansOf(remove.traceId, [
        'runtime.v1.RuntimeService/RemovePodSandbox',
        'snapshot remove',
        'bundle delete',
        'containerd.task.v2.Task/Delete',
        'rootfs unmount',
      ]);
      childOf(
        rmp('runtime.v1.RuntimeService/RemovePodSandbox'),
        rmp('snapshot remove'),
        rmp('bundle delete'),
      );
      childOf(rmp('containerd.task.v2.Task/Delete'), rmp('rootfs unmount'));
    } finally {
      if (!removed) {
        await new Promise((r) => runtime!.removePodSandbox({ podSandboxId }, new Metadata(), r));
      }
    }
  });

  it('continues a containerd API caller trace through Tasks.Create into the shim', async () => {
    const rootfs = makeBusyboxRootfs(path.join(tmp!, 'rootfs'));
    const spec = generateDefaultSpec({ id: 'traced', namespace: NS }, [
      withRootfs(rootfs),
      withEnv(['PATH=/bin']),
      withProcessArgs('sleep', '300'),
    ]) as unknown as Record<string, unknown>;
    await client!.newContainer({ id: 'traced', spec, runtime: 'io.containerd.berth.v2' });
    const { traceId, parentId, md } = traced(NS);
    await new Promise((resolve, reject) =>
      tasks!.create(
        {
          containerId: 'traced',
          rootfs: [],
          stdin: '',
          stdout: '',
          stderr: '',
          terminal: false,
          checkpoint: undefined,
          options: undefined,
          runtimePath: '',
        },
        md,
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    );
    const spans = await trace(
      traceId,
      (s) =>
        named(s, 'containerd.services.tasks.v1.Tasks/Create').length === 1 &&
        named(s, 'containerd.task.v2.Task/Create').length === 1,
    );
    const server = named(spans, 'containerd.services.tasks.v1.Tasks/Create')[0]!;
    expect(server).toMatchObject({ service: 'berthd', kind: 2, parentSpanId: parentId });
    expect(server.attributes).toContainEqual({
      key: 'containerd.namespace',
      value: { stringValue: NS },
    });
    const shim = named(spans, 'containerd.task.v2.Task/Create')[0]!;
    expect(shim).toMatchObject({ service: 'berth-shim', parentSpanId: server.spanId });

    // sampling_ratio = 0: calls without a traceparent start no recorded trace.
    // Spans leave in order, so once a later traced call's span has arrived,
    // any span of the untraced calls would have too.
    const before = collector!.spans.length;
    await client!.version();
    await client!.tasks.list();
    const marker = traced(NS);
    await new Promise((r) => tasks!.list({ filter: '' }, marker.md, r));
    await trace(marker.traceId, (s) => s.some((x) => x.service === 'berthd'));
    const since = collector!.spans.slice(before).filter((s) => s.service === 'berthd');
    expect(since.map((s) => s.traceId)).toEqual([marker.traceId]);
  });
});
