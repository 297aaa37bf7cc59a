// Daemon cold start, idle memory and unary latency: berthd against Debian's
// containerd.
//
// Cold start is spawn → first answered Version RPC (the same grpc-js call for
// both). Idle memory is read 1 s after that, then the Version round trip is
// timed on one warm channel. Stop is SIGTERM → exit. Daemons run one at a
// time, in alternating order, each in fresh temporary directories. A second
// table isolates berthd's gRPC front door: the same grpc-js server bound
// directly and behind the front door, client and server in this process.
// berthd is measured in both builds when the bundle exists: as tsc compiled it
// (dist/cmd/berthd.js, one file per module) and bundled with a code cache
// (dist/berthd.cjs, from cmd/build.mjs). A last table compares the Version
// round trip with metrics and tracing off (the default) and on.

import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { credentials, Metadata, Server, ServerCredentials } from '@grpc/grpc-js';
import pino from 'pino';
import {
  VersionClient,
  VersionService,
} from '../../api/gen/containerd/services/version/v1/version.js';
import { GrpcFrontDoor } from '../../plugins/server/grpc-front-door.js';
import type { Benchmark, BenchContext } from '../benchmark.js';
import { type DaemonKind, startDaemon } from '../lib/daemons.js';
import { MiB, type MemoryUsage, readMemory } from '../lib/memory.js';
import {
  BERTHD_BUNDLE,
  BERTHD_MODULES,
  REPO_ROOT,
  haveContainerd,
  haveContainerd2,
} from '../lib/paths.js';
import { sleep } from '../lib/processes.js';
import { median, quantile, summarize } from '../lib/stats.js';
import { printComparison } from '../lib/table.js';
import { tempDir } from '../lib/tempdir.js';

const SETTLE_MS = 1000;
/** Version calls timed per daemon run, after LATENCY_WARMUP untimed ones. */
const LATENCY_CALLS = 2000;
const LATENCY_WARMUP = 200;

/** Sequential Version calls on one warm channel: each round trip in µs. */
async function versionRoundTripsUs(socket: string): Promise<number[]> {
  const client = new VersionClient(`unix://${socket}`, credentials.createInsecure());
  const once = () =>
    new Promise<void>((resolve, reject) =>
      client.version({}, new Metadata(), (err) => (err ? reject(err) : resolve())),
    );
  try {
    for (let i = 0; i < LATENCY_WARMUP; i++) await once();
    const out: number[] = [];
    for (let i = 0; i < LATENCY_CALLS; i++) {
      const t0 = performance.now();
      await once();
      out.push((performance.now() - t0) * 1000);
    }
    return out;
  } finally {
    client.close();
  }
}

interface Subject {
  label: string;
  kind: DaemonKind;
  /** berthd's script. */
  script?: string;
}

function subjects(): Subject[] {
  const out: Subject[] = [{ label: 'berthd (modules)', kind: 'berthd', script: BERTHD_MODULES }];
  if (existsSync(BERTHD_BUNDLE)) {
    out.push({ label: 'berthd (bundle)', kind: 'berthd', script: BERTHD_BUNDLE });
  }
  if (haveContainerd()) out.push({ label: 'containerd', kind: 'containerd' });
  if (haveContainerd2()) out.push({ label: 'containerd2', kind: 'containerd2' });
  return out;
}

interface Samples {
  readyMs: number[];
  cpuMs: number[];
  stopMs: number[];
  memory: MemoryUsage[];
  /** berthd only: the startupMs its "berthd started" log line reports (Daemon.start alone). */
  selfReportedMs: number[];
  /** Per run: the median and p99 Version round trip (µs). */
  rttMedianUs: number[];
  rttP99Us: number[];
  version: string;
}

function berthdStartupMs(logs: string): number | undefined {
  for (const line of logs.split('\n')) {
    try {
      const entry = JSON.parse(line) as { msg?: string; startupMs?: number };
      if (entry.msg === 'berthd started' && typeof entry.startupMs === 'number') {
        return entry.startupMs;
      }
    } catch {
      /* not a log line */
    }
  }
  return undefined;
}

async function once(subject: Subject, ctx: BenchContext, s?: Samples): Promise<void> {
  const kind = subject.kind;
  const d = await startDaemon(kind, ctx.cleanup, { script: subject.script });
  try {
    await sleep(SETTLE_MS);
    const memory = await readMemory(d.pid);
    const rtt = await versionRoundTripsUs(d.socket);
    const stopMs = await d.stop();
    if (s) {
      s.readyMs.push(d.readyMs);
      s.cpuMs.push(d.cpuMsAtReady);
      s.memory.push(memory);
      s.stopMs.push(stopMs);
      s.rttMedianUs.push(median(rtt));
      s.rttP99Us.push(quantile(rtt, 0.99));
      s.version = d.version.version;
      const self = kind === 'berthd' ? berthdStartupMs(d.logs()) : undefined;
      if (self !== undefined) s.selfReportedMs.push(self);
    }
  } finally {
    await d.dispose();
  }
}

export const daemonBenchmark: Benchmark = {
  name: 'daemon',
  description: 'cold start to first Version answer, idle RSS/PSS, stop time: berthd vs containerd',
  async run(ctx) {
    const kinds = subjects();
    const samples = new Map<Subject, Samples>(
      kinds.map((k) => [
        k,
        {
          readyMs: [],
          cpuMs: [],
          stopMs: [],
          memory: [],
          selfReportedMs: [],
          rttMedianUs: [],
          rttP99Us: [],
          version: '',
        },
      ]),
    );
    for (let i = 0; i < ctx.warmup; i++) {
      for (const k of kinds) {
        ctx.progress(`daemon: warm-up ${k.label}`);
        await once(k, ctx);
      }
    }
    for (let i = 0; i < ctx.runs; i++) {
      // Alternate who goes first, so drift on the machine does not favour one.
      for (const k of i % 2 === 0 ? kinds : [...kinds].reverse()) {
        ctx.progress(`daemon: run ${i + 1}/${ctx.runs} ${k.label}`);
        await once(k, ctx, samples.get(k));
      }
    }

    const per = (f: (s: Samples) => number | undefined) => kinds.map((k) => f(samples.get(k)!));
    const ready = (f: (x: ReturnType<typeof summarize>) => number) =>
      per((s) => f(summarize(s.readyMs)));
    const mem = (f: (m: MemoryUsage) => number) => per((s) => MiB(median(s.memory.map(f))));
    const ctrd = kinds.findIndex((k) => k.kind === 'containerd');
    const ctrd2 = kinds.findIndex((k) => k.kind === 'containerd2');
    const berths = kinds.filter((k) => k.kind === 'berthd').length;
    const scripts = kinds
      .filter((k) => k.script)
      .map((k) => `${k.label} = ${path.relative(REPO_ROOT, k.script!)}`);
    printComparison({
      title: `Daemon (${ctx.runs} runs each; berthd ${samples.get(kinds[0]!)!.version}${ctrd >= 0 ? `, containerd ${samples.get(kinds[ctrd]!)!.version}` : ''}; ${scripts.join(', ')})`,
      subjects: kinds.map((k) => k.label),
      // Each berthd against each containerd (1.6 and 2.x).
      ratios: [ctrd, ctrd2]
        .filter((c) => c >= 0)
        .flatMap((c) => kinds.slice(0, berths).map((_, i): [number, number] => [i, c])),
      rows: [
        { metric: 'cold start → Version answered, median (ms)', values: ready((x) => x.median) },
        { metric: 'cold start → Version answered, p90 (ms)', values: ready((x) => x.p90) },
        { metric: 'cold start → Version answered, min (ms)', values: ready((x) => x.min) },
        {
          metric: 'CPU time used until answered, median (ms)',
          values: per((s) => median(s.cpuMs)),
        },
        {
          metric: '  of which Daemon.start (its startupMs log field), median (ms)',
          values: per((s) => (s.selfReportedMs.length ? median(s.selfReportedMs) : undefined)),
        },
        { metric: 'idle RSS, median (MiB)', values: mem((m) => m.rssKiB) },
        { metric: 'idle PSS, median (MiB)', values: mem((m) => m.pssKiB) },
        { metric: 'idle USS, median (MiB)', values: mem((m) => m.ussKiB) },
        { metric: 'peak RSS, median (MiB)', values: mem((m) => m.peakRssKiB) },
        {
          metric: `Version round trip, warm channel, median of ${LATENCY_CALLS} (µs)`,
          values: per((s) => median(s.rttMedianUs)),
          digits: 0,
        },
        {
          metric: `Version round trip, warm channel, p99 of ${LATENCY_CALLS} (µs)`,
          values: per((s) => median(s.rttP99Us)),
          digits: 0,
        },
        { metric: 'stop: SIGTERM → exit, median (ms)', values: per((s) => median(s.stopMs)) },
      ],
    });
    await frontDoorCost(ctx);
    await observabilityCost(ctx);
  },
};

type Observability = 'off' | 'metrics on' | 'metrics + tracing on';

/** An OTLP/HTTP endpoint in this process that accepts every post and counts the spans. */
async function spanSink(): Promise<{ url: string; spans: () => number; close(): Promise<void> }> {
  let spans = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      spans += (body.match(/"spanId"/g) ?? []).length;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans: () => spans,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Scrapes the metrics socket: the measured calls must have been counted, or "on" measured nothing. */
async function expectVersionsCounted(socketPath: string): Promise<void> {
  const text = await new Promise<string>((resolve, reject) =>
    http
      .get({ socketPath, path: '/v1/metrics' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve(body));
      })
      .on('error', reject),
  );
  const line = text
    .split('\n')
    .find((l) => l.startsWith('grpc_server_handled_total{') && l.includes('grpc_method="Version"'));
  const counted = Number(line?.split(' ').pop());
  if (!(counted >= LATENCY_CALLS)) {
    throw new Error(`metrics counted ${counted} Version calls, expected at least ${LATENCY_CALLS}`);
  }
}

/**
 * "No cost when off": the same berthd binary with `[metrics]` and `[tracing]`
 * empty (the default) and set, every call sampled, spans posted to a sink in
 * this process. Version round trips on a warm channel, as in the table above.
 */
async function observabilityCost(ctx: BenchContext): Promise<void> {
  const modes: Observability[] = ['off', 'metrics on', 'metrics + tracing on'];
  const sink = await spanSink();
  const samples = new Map<Observability, { med: number[]; p99: number[] }>(
    modes.map((m) => [m, { med: [], p99: [] }]),
  );
  try {
    for (let i = 0; i < ctx.warmup + ctx.runs; i++) {
      for (const mode of i % 2 === 0 ? modes : [...modes].reverse()) {
        ctx.progress(
          `daemon: ${mode}, ${i < ctx.warmup ? 'warm-up' : `run ${i - ctx.warmup + 1}/${ctx.runs}`}`,
        );
        const dir = await tempDir(ctx.cleanup, 'berth-observability-');
        const metrics = `[metrics]\naddress = "${path.join(dir.path, 'metrics.sock')}"\n`;
        const tracing = `[tracing]\nendpoint = "${sink.url}"\nsampling_ratio = 1.0\n`;
        const config = {
          off: '',
          'metrics on': metrics,
          'metrics + tracing on': metrics + tracing,
        }[mode];
        const d = await startDaemon('berthd', ctx.cleanup, { config });
        try {
          const rtt = await versionRoundTripsUs(d.socket);
          if (mode !== 'off') {
            await expectVersionsCounted(path.join(dir.path, 'metrics.sock'));
          }
          if (i >= ctx.warmup) {
            samples.get(mode)!.med.push(median(rtt));
            samples.get(mode)!.p99.push(quantile(rtt, 0.99));
          }
        } finally {
          await d.dispose();
          await dir.remove();
        }
      }
    }
  } finally {
    await sink.close();
  }
  if (sink.spans() === 0) throw new Error('tracing was on, but no span reached the sink');
  const per = (f: (s: { med: number[]; p99: number[] }) => number[]) =>
    modes.map((m) => median(f(samples.get(m)!)));
  printComparison({
    title: `Observability cost (${ctx.runs} runs; berthd, Version on a warm channel; "on" samples every call, ${sink.spans()} spans exported)`,
    subjects: modes,
    ratios: [
      [1, 0],
      [2, 0],
    ],
    rows: [
      {
        metric: `round trip, median of ${LATENCY_CALLS} (µs)`,
        values: per((s) => s.med),
        digits: 0,
      },
      { metric: `round trip, p99 of ${LATENCY_CALLS} (µs)`, values: per((s) => s.p99), digits: 0 },
    ],
  });
}

type Listening = 'bound directly' | 'front door';

/** A grpc-js server answering Version, listening on `socket` one way or the other. */
async function versionServer(dir: string, how: Listening): Promise<() => void> {
  const socket = path.join(dir, 'grpc.sock');
  const server = new Server();
  server.addService(VersionService, {
    version: (_call: unknown, cb: (err: null, res: object) => void) =>
      cb(null, { version: 'v0', revision: 'bench' }),
  });
  if (how === 'bound directly') {
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    return () => server.forceShutdown();
  }
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  const door = new GrpcFrontDoor({
    log: pino({ level: 'silent' }),
    inject: (conn) => injector.injectConnection(conn),
    pairPath: path.join(dir, 'pairs.sock'),
  });
  await door.listen(socket);
  return () => {
    door.close();
    server.forceShutdown();
  };
}

async function frontDoorCost(ctx: BenchContext): Promise<void> {
  const modes: Listening[] = ['bound directly', 'front door'];
  const samples = new Map<Listening, { med: number[]; p99: number[] }>(
    modes.map((m) => [m, { med: [], p99: [] }]),
  );
  for (let i = 0; i < ctx.warmup + ctx.runs; i++) {
    for (const mode of i % 2 === 0 ? modes : [...modes].reverse()) {
      ctx.progress(
        `daemon: front door cost, ${mode}, ${i < ctx.warmup ? 'warm-up' : `run ${i - ctx.warmup + 1}/${ctx.runs}`}`,
      );
      const dir = await tempDir(ctx.cleanup, 'berth-front-door-');
      const stop = await versionServer(dir.path, mode);
      try {
        const rtt = await versionRoundTripsUs(path.join(dir.path, 'grpc.sock'));
        if (i >= ctx.warmup) {
          samples.get(mode)!.med.push(median(rtt));
          samples.get(mode)!.p99.push(quantile(rtt, 0.99));
        }
      } finally {
        stop();
        await dir.remove();
      }
    }
  }
  const per = (f: (s: { med: number[]; p99: number[] }) => number[]) =>
    modes.map((m) => median(f(samples.get(m)!)));
  printComparison({
    title: `gRPC front door cost (${ctx.runs} runs; one grpc-js server and client in this process, Version on a warm channel)`,
    subjects: modes,
    ratios: [[1, 0]],
    rows: [
      {
        metric: `round trip, median of ${LATENCY_CALLS} (µs)`,
        values: per((s) => s.med),
        digits: 0,
      },
      { metric: `round trip, p99 of ${LATENCY_CALLS} (µs)`, values: per((s) => s.p99), digits: 0 },
    ],
  });
}
