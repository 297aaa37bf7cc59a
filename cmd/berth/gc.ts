import type { Command } from 'commander';
import { type CollectResponse, GCClient } from '../../api/gen/berth/gc/v1/gc.js';
import { fromTimestamp } from '../../core/protobuf/timestamp.js';
import { withClient } from './context.js';
import { printJSON, table } from './output.js';

/** One row per removed object: TYPE, NAMESPACE ('-' for backend objects), ID. */
export function removedRows(r: CollectResponse): string[][] {
  return [
    ...r.content.map((c) => ['content', c.namespace, c.digest]),
    ...r.snapshots.map((s) => ['snapshot', s.namespace, `${s.snapshotter}/${s.key}`]),
    ...r.leases.map((l) => ['lease', l.namespace, l.id]),
    ...r.ingests.map((i) => ['ingest', i.namespace, i.ref]),
    ...r.blobs.map((d) => ['blob', '-', d]),
    ...r.backendSnapshots.map((s) => ['backend-snapshot', '-', `${s.snapshotter}/${s.key}`]),
  ];
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function registerGC(program: Command) {
  program
    .command('gc')
    .description('run garbage collection now and print what it removed')
    .option('--json', 'print JSON')
    .action(
      withClient(async (client, flags: { json?: boolean }) => {
        const r = await client.call<CollectResponse>(GCClient, 'collect', {});
        if (flags.json) {
          printJSON({
            StartedAt: fromTimestamp(r.startedAt)?.toISOString(),
            DurationMs: r.durationNs / 1e6,
            Content: r.content,
            Snapshots: r.snapshots,
            Leases: r.leases,
            Ingests: r.ingests,
            Blobs: r.blobs,
            BackendSnapshots: r.backendSnapshots,
            Errors: r.errors,
          });
        } else {
          const rows = removedRows(r);
          if (rows.length > 0) process.stdout.write(table(['TYPE', 'NAMESPACE', 'ID'], rows));
          process.stdout.write(
            `removed ${plural(r.content.length, 'content record')}, ${plural(r.snapshots.length, 'snapshot')}, ` +
              `${plural(r.leases.length, 'lease')}, ${plural(r.ingests.length, 'ingest')}, ` +
              `${plural(r.blobs.length, 'blob')}, ${plural(r.backendSnapshots.length, 'backend snapshot')} ` +
              `in ${(r.durationNs / 1e6).toFixed(1)} ms\n`,
          );
        }
        for (const e of r.errors) process.stderr.write(`berth: gc: ${e}\n`);
        if (r.errors.length > 0) process.exitCode = 1;
      }),
    );
}
