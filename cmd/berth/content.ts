import { humanSize } from './output.js';
import { type Command, InvalidArgumentError } from 'commander';
import type { ContentInfo } from '../../client/content.js';
import { isNotFound } from '../../core/errors/catalogue.js';
import { fromTimestamp } from '../../core/protobuf/timestamp.js';
import { reportFailure } from './exit-codes.js';
import { type FormatFlags, addFormatOption, printList } from './format.js';
import { labelsString, parseLabelArgs, table } from './output.js';
import { withClient } from './context.js';
import { registerContentFetch } from './images-registry.js';

/** Rough age ("3 minutes"), as ctr prints ages. */
export function humanAge(since: Date | undefined, now = Date.now()): string {
  if (!since) return '-';
  const s = Math.max(0, Math.floor((now - since.getTime()) / 1000));
  if (s < 1) return 'Less than a second';
  if (s < 60) return s === 1 ? '1 second' : `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.floor(m / 60);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  const d = Math.floor(h / 24);
  if (d < 14) return `${d} days`;
  return `${Math.floor(d / 7)} weeks`;
}

function contentJSON(c: ContentInfo) {
  return {
    Digest: c.digest,
    Size: c.size,
    CreatedAt: fromTimestamp(c.createdAt)?.toISOString(),
    UpdatedAt: fromTimestamp(c.updatedAt)?.toISOString(),
    Labels: c.labels,
  };
}

export function registerContent(program: Command) {
  const content = program.command('content').description('manage content (blobs by digest)');
  registerContentFetch(content);

  addFormatOption(
    content
      .command('ls [filters...]')
      .alias('list')
      .description('list blobs (filters like digest==sha256:…, size==123 or labels.k==v)')
      .option('-q, --quiet', 'print only digests'),
  ).action(
    withClient(async (client, filters: string[], flags: FormatFlags) => {
      const list = (await client.content.list(...filters)).sort((a, b) =>
        a.digest.localeCompare(b.digest),
      );
      await printList(flags, list, {
        fields: contentJSON,
        id: (c) => c.digest,
        table: (items) =>
          table(
            ['DIGEST', 'SIZE', 'AGE', 'LABELS'],
            items.map((c) => [
              c.digest,
              humanSize(c.size),
              humanAge(fromTimestamp(c.createdAt)),
              labelsString(c.labels),
            ]),
          ),
      });
    }),
  );

  content
    .command('get <digest>')
    .description('write a blob to stdout')
    .action(
      withClient(async (client, digest: string) => {
        for await (const data of client.content.read(digest)) {
          if (!process.stdout.write(data))
            await new Promise((r) => process.stdout.once('drain', r));
        }
      }),
    );

  content
    .command('ingest <ref>')
    .description('write stdin into the store under an ingest ref and commit it; prints the digest')
    .option('--expected-size <bytes>', 'verify the size at commit', (v) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('use a size in bytes.');
      return n;
    })
    .option('--expected-digest <digest>', 'verify the digest at commit')
    .option('-l, --label <key=value...>', 'label the committed blob')
    .action(
      withClient(
        async (
          client,
          ref: string,
          flags: { expectedSize?: number; expectedDigest?: string; label?: string[] },
        ) => {
          const digest = await client.content.ingest(ref, process.stdin, {
            expectedSize: flags.expectedSize,
            expectedDigest: flags.expectedDigest,
            labels: parseLabelArgs(flags.label ?? []),
          });
          process.stdout.write(digest + '\n');
        },
      ),
    );

  content
    .command('rm <digests...>')
    .aliases(['remove', 'delete', 'del'])
    .description('delete blobs from the namespace; prints each digest deleted')
    .action(
      withClient(async (client, digests: string[]) => {
        for (const digest of digests) {
          try {
            await client.content.delete(digest);
            process.stdout.write(digest + '\n');
          } catch (err) {
            // Like ctr, a blob that is already gone is not a failure.
            if (isNotFound(err)) {
              process.stderr.write(`berth: content ${digest} not found\n`);
              continue;
            }
            reportFailure(`failed to delete ${digest}`, err);
          }
        }
      }),
    );

  content
    .command('label <digest> [labels...]')
    .description('set (key=value) or remove (key=) labels on a blob')
    .action(
      withClient(async (client, digest: string, labels: string[]) => {
        const parsed = parseLabelArgs(labels);
        const info =
          Object.keys(parsed).length === 0
            ? await client.content.info(digest)
            : await client.content.setLabels(digest, parsed);
        process.stdout.write(labelsString(info.labels) + '\n');
      }),
    );

  addFormatOption(
    content
      .command('active [filters...]')
      .description('list ingests in progress (filters like ref~=layer)'),
  ).action(
    withClient(async (client, filters: string[], flags: FormatFlags) => {
      const list = (await client.content.statuses(...filters)).sort((a, b) =>
        a.ref.localeCompare(b.ref),
      );
      await printList(flags, list, {
        fields: (s) => ({
          Ref: s.ref,
          Offset: s.offset,
          Total: s.total,
          Expected: s.expected || undefined,
          StartedAt: fromTimestamp(s.startedAt)?.toISOString(),
          UpdatedAt: fromTimestamp(s.updatedAt)?.toISOString(),
        }),
        table: (items) =>
          table(
            ['REF', 'SIZE', 'TOTAL', 'AGE'],
            items.map((s) => [
              s.ref,
              humanSize(s.offset),
              s.total > 0 ? humanSize(s.total) : '-',
              humanAge(fromTimestamp(s.startedAt)),
            ]),
          ),
      });
    }),
  );
}
