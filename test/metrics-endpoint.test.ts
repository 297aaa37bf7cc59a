// berthd's Prometheus endpoint end to end: a daemon with `[metrics] address`
// on loopback, a CRI pull from a registry on 127.0.0.1, a pod with a running
// container, containerd API calls and a garbage collection; then the scrape,
// read by Prometheus' own text parser (test/go/prom-parse, expfmt).

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CollectResponse, GCClient } from '../api/gen/berth/gc/v1/gc.js';
import { Client } from '../client/client.js';
import { digestOf } from '../core/content/digest.js';
import { type BuiltImage, busyboxAppImage, busyboxImage } from './fixtures/image-builder.js';
import { type CriEnv, podConfig, startCriEnv, waitFor } from './helpers/cri.js';
import { goBuild } from './helpers/go-build.js';
import { type FakeRegistry, freePort, serveImage, startFakeRegistry } from './helpers/registry.js';

const isRoot = process.getuid?.() === 0;
const haveCni = existsSync('/usr/lib/cni/bridge');

interface ParsedSample {
  labels: Record<string, string>;
  value?: number;
  buckets?: { le: string; count: number }[];
  sum?: number;
  count?: number;
}
type Parsed = Record<string, { help: string; type: string; samples: ParsedSample[] }>;

function get(port: number, p: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', body }),
        );
      })
      .on('error', reject);
  });
}

/** The samples of `family` whose labels include `labels`. */
function samples(p: Parsed, family: string, labels: Record<string, string> = {}): ParsedSample[] {
  return (p[family]?.samples ?? []).filter((s) =>
    Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

/** One counter or gauge value (0 when the series does not exist yet). */
function value(p: Parsed, family: string, labels: Record<string, string> = {}): number {
  const found = samples(p, family, labels);
  if (found.length > 1)
    throw new Error(`${family} ${JSON.stringify(labels)} matches ${found.length}`);
  return found[0]?.value ?? 0;
}

describe.skipIf(!isRoot || !haveCni)('metrics endpoint', () => {
  let parser: string | undefined;
  let registry: FakeRegistry | undefined;
  let env: CriEnv | undefined;
  let client: Client | undefined;
  let hostsDir: string | undefined;
  let port: number;
  let app: BuiltImage;
  let base: BuiltImage;

  beforeAll(async () => {
    const built = await goBuild('prom-parse');
    if (typeof built !== 'string') return;
    parser = built;
    base = await busyboxImage();
    app = await busyboxAppImage('metrics/app:v1', {
      'etc/metrics-test': randomBytes(8).toString('hex'),
    });
    registry = await startFakeRegistry();
    serveImage(registry, app, 'v1');
    hostsDir = await fs.mkdtemp('/tmp/berth-metrics-hosts-');
    await fs.mkdir(path.join(hostsDir, registry.host));
    await fs.writeFile(
      path.join(hostsDir, registry.host, 'hosts.toml'),
      `server = "http://${registry.host}"\n`,
    );
    port = await freePort();
    env = await startCriEnv({
      topLevelConfig: `[metrics]\naddress = "127.0.0.1:${port}"`,
      extraCriConfig: `registry_config_path = "${hostsDir}"`,
    });
    client = new Client({ address: env.d.address, namespace: `metrics${process.pid}` });
  });

  afterAll(async () => {
    client?.close();
    await env?.dispose();
    await registry?.close();
    if (hostsDir) await fs.rm(hostsDir, { recursive: true, force: true });
  });

  /** Scrapes /v1/metrics and parses it with expfmt; a document it refuses fails the test. */
  async function scrape(): Promise<Parsed> {
    const r = await get(port, '/v1/metrics');
    expect(r.status).toBe(200);
    expect(r.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    return JSON.parse(execFileSync(parser!, { input: r.body, encoding: 'utf8' })) as Parsed;
  }

  it('serves gRPC, task, shim, GC, pull and container cgroup metrics that Prometheus parses', async (ctx) => {
    if (!parser) ctx.skip();
    const { cri } = env!;
    const before = await scrape();

    // containerd API: three Version calls.
    for (let i = 0; i < 3; i++) await client!.version();
    // CRI: a pull from the registry, a refused call, a pod with a running container.
    const ref = `${registry!.host}/metrics/app:v1`;
    await cri.image.pullImage({ image: { image: ref } });
    await expect(cri.runtime.containerStatus({ containerId: 'nope' })).rejects.toMatchObject({
      code: 5,
    });
    const pod = podConfig('metrics', path.join(env!.work, 'logs', 'metrics'));
    const { podSandboxId } = await cri.runtime.runPodSandbox({ config: pod });
    const { containerId } = await cri.runtime.createContainer({
      podSandboxId,
      config: {
        metadata: { name: 'app' },
        image: { image: ref },
        command: ['sleep', '300'],
        logPath: 'app.log',
      },
      sandboxConfig: pod,
    });
    await cri.runtime.startContainer({ containerId });
    await waitFor(
      async () => (await cri.runtime.containerStatus({ containerId })).status!.state,
      (s) => s === 1, // CONTAINER_RUNNING
    );
    // GC: a blob nothing references, collected.
    const junk = randomBytes(4096);
    await client!.content.ingest(
      `metrics-junk-${process.pid}`,
      (async function* () {
        yield junk;
      })(),
      { expectedDigest: digestOf(junk), expectedSize: junk.length },
    );
    const collected = await client!.call<CollectResponse>(GCClient, 'collect', {});
    expect(collected.content.map((c) => c.digest)).toContain(digestOf(junk));

    const after = await scrape();
    for (const [name, type] of Object.entries({
      grpc_server_started_total: 'COUNTER',
      grpc_server_handled_total: 'COUNTER',
      grpc_server_handling_seconds: 'HISTOGRAM',
      berth_tasks: 'GAUGE',
      berth_shims: 'GAUGE',
      berth_gc_runs_total: 'COUNTER',
      berth_gc_reclaimed_bytes_total: 'COUNTER',
      berth_pull_bytes_total: 'COUNTER',
      berth_pull_seconds: 'HISTOGRAM',
      container_pids_current: 'GAUGE',
    })) {
      expect(after[name]?.type, name).toBe(type);
      expect(after[name]!.help, name).not.toBe('');
    }

    // Request counts went up by exactly the calls made.
    const handled = (service: string, method: string, code = 'OK') => {
      const labels = { grpc_service: service, grpc_method: method, grpc_code: code };
      return (
        value(after, 'grpc_server_handled_total', labels) -
        value(before, 'grpc_server_handled_total', labels)
      );
    };
    expect(handled('containerd.services.version.v1.Version', 'Version')).toBe(3);
    expect(handled('runtime.v1.ImageService', 'PullImage')).toBe(1);
    expect(handled('runtime.v1.RuntimeService', 'RunPodSandbox')).toBe(1);
    expect(handled('runtime.v1.RuntimeService', 'CreateContainer')).toBe(1);
    expect(handled('runtime.v1.RuntimeService', 'StartContainer')).toBe(1);
    expect(handled('runtime.v1.RuntimeService', 'ContainerStatus', 'NotFound')).toBe(1);
    expect(handled('io.berth.gc.v1.GC', 'Collect')).toBe(1);
    expect(
      samples(after, 'grpc_server_handled_total', {
        grpc_service: 'containerd.services.version.v1.Version',
      })[0]!.labels.grpc_type,
    ).toBe('unary');

    // Every histogram series: buckets never decrease, +Inf holds the count.
    for (const name of ['grpc_server_handling_seconds', 'berth_pull_seconds']) {
      for (const s of samples(after, name)) {
        const counts = s.buckets!.map((b) => b.count);
        expect(counts, name).toEqual([...counts].sort((a, b) => a - b));
        expect(s.buckets!.at(-1)).toEqual({ le: '+Inf', count: s.count });
      }
    }
    const versionLatency = samples(after, 'grpc_server_handling_seconds', {
      grpc_method: 'Version',
      grpc_service: 'containerd.services.version.v1.Version',
    })[0]!;
    expect(versionLatency.count).toBeGreaterThanOrEqual(3);

    // Pull: the blobs busybox did not already have came over the network.
    const known = new Set(base.blobs.keys());
    const fetched = [...app.blobs]
      .filter(([d]) => !known.has(d))
      .reduce((n, [, b]) => n + b.length, 0);
    expect(value(after, 'berth_pull_bytes_total') - value(before, 'berth_pull_bytes_total')).toBe(
      fetched,
    );
    const pulls = (p: Parsed) => samples(p, 'berth_pull_seconds', { result: 'ok' })[0]?.count ?? 0;
    expect(pulls(after) - pulls(before)).toBe(1);

    // GC: at least our collection, and at least the junk blob's bytes.
    const gcRuns = (p: Parsed) => value(p, 'berth_gc_runs_total', { result: 'ok' });
    expect(gcRuns(after) - gcRuns(before)).toBeGreaterThanOrEqual(1);
    expect(
      value(after, 'berth_gc_reclaimed_bytes_total') -
        value(before, 'berth_gc_reclaimed_bytes_total'),
    ).toBeGreaterThanOrEqual(junk.length);

    // Tasks and shims: the pod's sandbox and container run in one shim.
    expect(value(after, 'berth_tasks', { namespace: 'k8s.io', status: 'running' })).toBe(2);
    expect(value(after, 'berth_shims')).toBe(1);

    // The container's cgroup metrics, as containerd names them (v1 or v2 host).
    const mine = { container_id: containerId, namespace: 'k8s.io' };
    expect(value(after, 'container_pids_current', mine)).toBeGreaterThanOrEqual(1);
    const cpu = after.container_cpu_total_nanoseconds
      ? 'container_cpu_total_nanoseconds'
      : 'container_cpu_usage_usec_microseconds';
    expect(samples(after, cpu, mine)).toHaveLength(1);
    const memory = after.container_memory_usage_usage_bytes
      ? 'container_memory_usage_usage_bytes'
      : 'container_memory_usage_bytes';
    expect(value(after, memory, mine)).toBeGreaterThan(0);
    expect(samples(after, 'container_pids_current', { namespace: 'k8s.io' })).toHaveLength(2);

    // /metrics answers the same families; other paths are 404.
    const alias = await get(port, '/metrics');
    expect(alias.status).toBe(200);
    expect(alias.body).toContain('# TYPE berth_tasks gauge');
    expect((await get(port, '/v2/metrics')).status).toBe(404);

    await cri.runtime.removePodSandbox({ podSandboxId });
  });
});
