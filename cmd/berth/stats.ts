// `berth stats`: a live table of CPU, memory, processes, network and block IO
// per container (Tasks Metrics of the namespace) or per pod (`--pods`, the
// CRI's pod stats). CPU % is the CPU time used between two readings taken an
// interval apart, so even `--no-stream` waits one interval.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { Client } from '../../client/client.js';
import { Status } from '../../api/gen/containerd/types/task/task.js';
import type { Timestamp } from '../../api/gen/google/protobuf/timestamp.js';
import { durationOption } from './args.js';
import { sampleFromCgroup } from './cgroup-sample.js';
import { withClient } from './context.js';
import { UsageError, isDaemonUnreachable } from './exit-codes.js';
import {
  type FormatFlags,
  type OutputFormat,
  addFormatOption,
  chosenFormat,
  renderTemplate,
} from './format.js';
import { bigintAsString, binarySize, humanSize, table } from './output.js';
import { taskNetIO } from './stats-net.js';
import { type ResourceSample, type StatsRow, statsRow } from './stats-sample.js';

interface StatsFlags extends FormatFlags {
  stream: boolean;
  all?: boolean;
  pods?: boolean;
  interval: number;
}

interface Reading {
  who: { ID: string; Name?: string; Namespace?: string };
  sample: ResourceSample;
}

const CLEAR_SCREEN = '\x1b[2J\x1b[H';
/** Pod IDs are 64 hex digits; the table shows a prefix, as crictl does. */
const POD_ID_WIDTH = 13;

const timestampNs = (t: Timestamp | undefined) =>
  t && t.seconds > 0 ? t.seconds * 1e9 + t.nanos : undefined;

/** Metrics of the given tasks; when only one is asked for and it cannot be read, none. */
async function taskMetrics(client: Client, ids: string[]) {
  if (ids.length === 0) return [];
  try {
    return await client.tasks.metrics(...ids.map((id) => `id==${id}`));
  } catch (err) {
    // The daemon leaves out a task it cannot read when there are several; with one it fails.
    if (ids.length > 1 || isDaemonUnreachable(err)) throw err;
    return [];
  }
}

/**
 * One reading per running task of the namespace (or of the named containers,
 * or with `all` of every container); those without a running task have no figures.
 */
async function readContainers(client: Client, ids: string[], all: boolean): Promise<Reading[]> {
  const atNs = Date.now() * 1e6;
  const tasks = (await client.tasks.list()).filter(
    (t) => t.status !== Status.STOPPED && (ids.length === 0 || ids.includes(t.id)),
  );
  const pids = new Map(tasks.map((t) => [t.id, t.pid]));
  const readings = new Map<string, Reading>();
  for (const m of await taskMetrics(client, [...pids.keys()])) {
    const sample = sampleFromCgroup(m.data, timestampNs(m.timestamp) ?? atNs);
    const net = taskNetIO(pids.get(m.id) ?? 0);
    if (net) [sample.netRx, sample.netTx] = [net.rx, net.tx];
    readings.set(m.id, { who: { ID: m.id }, sample });
  }
  const shown = ids.length > 0 ? ids : all ? (await client.containers.list()).map((c) => c.id) : [];
  for (const id of shown)
    if (!readings.has(id)) readings.set(id, { who: { ID: id }, sample: { atNs } });
  return [...readings.values()].sort((a, b) => a.who.ID.localeCompare(b.who.ID));
}

const dash = (n: number | null, f: (n: number) => string) => (n === null ? '-' : f(n));
const percent = (n: number) => `${n.toFixed(2)}%`;
const pair = (a: number | null, b: number | null, f: (n: number) => string) =>
  a === null && b === null ? '-' : `${dash(a, f)} / ${dash(b, f)}`;

export function statsTable(rows: StatsRow[], pods: boolean): string {
  const header = pods ? ['POD', 'NAME', 'NAMESPACE'] : ['CONTAINER'];
  header.push('CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS');
  return table(
    header,
    rows.map((r) => [
      ...(pods ? [r.ID.slice(0, POD_ID_WIDTH), r.Name ?? '', r.Namespace ?? ''] : [r.ID]),
      dash(r.CPUPercent, percent),
      pair(r.MemoryUsage, r.MemoryLimit, binarySize),
      dash(r.MemoryPercent, percent),
      pair(r.NetRx, r.NetTx, humanSize),
      pair(r.BlockRead, r.BlockWrite, humanSize),
      dash(r.Pids, String),
    ]),
  );
}

/** One sample's output: streamed JSON is one array per line, for line-reading scripts. */
function frame(format: OutputFormat, rows: StatsRow[], pods: boolean, stream: boolean): string {
  switch (format.kind) {
    case 'json':
      return JSON.stringify(rows, bigintAsString, stream ? undefined : 2) + '\n';
    case 'template':
      return rows.map((r) => renderTemplate(format.template, r) + '\n').join('');
    default:
      return statsTable(rows, pods);
  }
}

async function stats(client: Client, ids: string[], f: StatsFlags): Promise<void> {
  if (!(f.interval > 0)) throw new UsageError('--interval must be longer than 0');
  const format = chosenFormat(f);
  const read = f.pods
    ? // Loaded on demand: only --pods needs the CRI's generated code, a quarter of the bundle.
      async () => (await import('./stats-pods.js')).readPods(client, ids)
    : () => readContainers(client, ids, f.all ?? false);
  // A named container that does not exist is an error, as with docker.
  if (!f.pods) for (const id of ids) await client.containers.get(id);

  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const redraw = f.stream && process.stdout.isTTY;
  try {
    let prev = new Map((await read()).map((r) => [r.who.ID, r.sample]));
    for (;;) {
      await sleep(f.interval, undefined, { signal: stop.signal }).catch(() => {});
      if (stop.signal.aborted) return;
      const cur = await read();
      const rows = cur.map((r) => statsRow(r.who, prev.get(r.who.ID), r.sample));
      process.stdout.write(
        (redraw ? CLEAR_SCREEN : '') + frame(format, rows, f.pods ?? false, f.stream),
      );
      if (!f.stream) return;
      prev = new Map(cur.map((r) => [r.who.ID, r.sample]));
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function registerStats(program: Command) {
  addFormatOption(
    program
      .command('stats [ids...]')
      .description(
        'live CPU, memory, network, block IO and process counts of running containers (or pods with --pods)',
      )
      .option('--no-stream', 'print one sample and exit')
      .option('--all', 'also list containers without a running task')
      .option(
        '--pods',
        'pods from the CRI (namespace k8s.io): IDs name pods by ID, ID prefix or name',
      )
      .addOption(durationOption('--interval <duration>', 'time between samples', '1s')),
  ).action(withClient(async (client, ids: string[], f: StatsFlags) => stats(client, ids, f)));
}
