// `berth images import|export|check|usage` and the SIZE/PLATFORMS columns of
// `berth images ls`: the image commands that read or write image content.

import { createWriteStream } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { Client } from '../../client/client.js';
import { ClientImage, getImage } from '../../client/image.js';
import { exportArchive, importArchive } from '../../client/import.js';
import { contentOf } from '../../client/image-deps.js';
import { isUnpacked } from '../../client/unpack.js';
import type { Image } from '../../client/images.js';
import { isNotFound } from '../../core/errors/catalogue.js';
import { isIndexType } from '../../core/images/oci/media-types.js';
import {
  allPlatforms,
  defaultPlatformMatcher,
  formatPlatform,
  onlyPlatform,
  parsePlatformSpecifier,
  type PlatformMatcher,
} from '../../core/images/oci/platform.js';
import { childrenOf } from '../../core/images/oci/resolve.js';
import type { Descriptor } from '../../core/images/oci/types.js';
import { withClient } from './context.js';
import { parseLabelArgs, table } from './output.js';
import { UsageError } from './exit-codes.js';

const collect = (v: string, acc: string[]) => [...acc, v];

/** Sizes as ctr prints them: 1.2 MiB. */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

function matcherFrom(f: { platform?: string; allPlatforms?: boolean }): PlatformMatcher {
  if (f.allPlatforms) return allPlatforms;
  if (f.platform) return onlyPlatform(parsePlatformSpecifier(f.platform));
  return defaultPlatformMatcher();
}

/** SIZE and PLATFORMS of `berth images ls` ('-' where the content is not there). */
export async function sizeAndPlatforms(client: Client, record: Image): Promise<[string, string]> {
  const img = new ClientImage(client, record);
  const size = await img.size().then(humanBytes, () => '-');
  const platforms = await img.platforms().then(
    (ps) => [...new Set(ps.map(formatPlatform))].join(',') || '-',
    () => '-',
  );
  return [size, platforms];
}

interface ImportFlags {
  baseName?: string;
  indexName?: string;
  platform?: string;
  allPlatforms?: boolean;
  unpack: boolean;
  snapshotter?: string;
  label: string[];
}

interface ExportFlags {
  platform?: string;
  allPlatforms?: boolean;
}

async function stdinBytes(): Promise<AsyncIterable<Uint8Array>> {
  if (process.stdin.isTTY) throw new UsageError('refusing to read an archive from a terminal');
  return process.stdin;
}

interface CheckRow {
  available: number;
  required: number;
  present: number;
  total: number;
  missing: boolean;
}

/** What the image needs for the platform, and how much of it is stored. */
async function checkContent(
  client: Client,
  img: ClientImage,
  m: PlatformMatcher,
): Promise<CheckRow> {
  const content = contentOf(client);
  const row: CheckRow = { available: 0, required: 0, present: 0, total: 0, missing: false };
  const walk = async (d: Descriptor): Promise<void> => {
    row.required++;
    row.total += d.size;
    if (!(await content.has(d.digest))) {
      row.missing = true;
      return;
    }
    row.available++;
    row.present += d.size;
    for (const c of await childrenOf(content, d, isIndexType(d.mediaType) ? m : undefined))
      await walk(c);
  };
  await walk(img.target);
  return row;
}

export function registerImageArchive(images: Command): void {
  images
    .command('import <in>')
    .description(
      'import images from an OCI layout or docker-save tar ("-" for stdin) and unpack them',
    )
    .option('--base-name <name>', 'name prefix for entries named only by a tag')
    .option('--index-name <name>', 'also name the whole archive index as this image')
    .option('--platform <os/arch[/variant]>', 'platform to check and unpack (default: this host)')
    .option('--all-platforms', 'check every platform of the archive (unpack the host one)')
    .option('--no-unpack', 'import only; do not unpack into a snapshotter')
    .option('--snapshotter <name>', 'snapshotter to unpack into (default overlayfs)')
    .option('--label <KEY=VALUE>', 'label on the imported images (repeatable)', collect, [])
    .action(
      withClient(async (client, input: string, f: ImportFlags) => {
        const source = input === '-' ? await stdinBytes() : input;
        const labels = f.label.length ? parseLabelArgs(f.label) : undefined;
        const imported = await importArchive(client, source, {
          baseName: f.baseName,
          indexName: f.indexName,
          platform: f.platform ? onlyPlatform(parsePlatformSpecifier(f.platform)) : undefined,
          allPlatforms: f.allPlatforms,
          noUnpack: !f.unpack,
          snapshotter: f.snapshotter,
          labels,
        });
        for (const img of imported) {
          process.stdout.write(
            f.unpack
              ? `unpacking ${img.name} (${img.target.digest})...done\n`
              : `${img.name} (${img.target.digest})\n`,
          );
        }
      }),
    );

  images
    .command('export <out> <names...>')
    .description('export images as an OCI layout tar ("-" for stdout)')
    .option('--platform <os/arch[/variant]>', 'platform to export (default: this host)')
    .option('--all-platforms', 'export every platform')
    .action(
      withClient(async (client, out: string, names: string[], f: ExportFlags) => {
        if (out === '-' && process.stdout.isTTY)
          throw new UsageError('refusing to write an archive to a terminal');
        const resolved: string[] = [];
        for (const n of names) resolved.push((await getImage(client, n)).name);
        const tar = await exportArchive(client, resolved, { platform: matcherFrom(f) });
        const sink: Writable =
          out === '-' ? process.stdout : createWriteStream(out, { mode: 0o644 });
        await pipeline(Readable.from(tar), sink);
      }),
    );

  images
    .command('check [filters...]')
    .description('check that images have all their content and are unpacked')
    .option('-q, --quiet', 'print only the names of complete images')
    .option('--snapshotter <name>', 'snapshotter to check unpacking in (default overlayfs)')
    .option('--platform <os/arch[/variant]>', 'platform to check (default: this host)')
    .action(
      withClient(
        async (
          client,
          filters: string[],
          f: { quiet?: boolean; snapshotter?: string; platform?: string },
        ) => {
          const m = matcherFrom(f);
          const rows: string[][] = [];
          for (const record of await client.images.list(...filters)) {
            const img = new ClientImage(client, record);
            const c = await checkContent(client, img, m);
            const complete = !c.missing && c.available === c.required;
            const unpacked = complete
              ? await isUnpacked(client, img.target, {
                  snapshotter: f.snapshotter,
                  platform: m,
                }).catch(() => false)
              : false;
            if (f.quiet) {
              if (complete) process.stdout.write(`${img.name}\n`);
              continue;
            }
            rows.push([
              img.name,
              img.target.mediaType,
              img.target.digest,
              `${complete ? 'complete' : 'incomplete'} (${c.available}/${c.required})`,
              `${humanBytes(c.present)}/${humanBytes(c.total)}`,
              String(unpacked),
            ]);
          }
          if (!f.quiet)
            process.stdout.write(
              table(['REF', 'TYPE', 'DIGEST', 'STATUS', 'SIZE', 'UNPACKED'], rows),
            );
        },
      ),
    );

  images
    .command('usage <ref>')
    .description("disk usage of an image's unpacked layer snapshots")
    .option('--snapshotter <name>', 'snapshotter (default overlayfs)')
    .action(
      withClient(async (client, ref: string, f: { snapshotter?: string }) => {
        const img = await getImage(client, ref);
        const resolved = await img.resolve();
        const sn = client.snapshots(f.snapshotter);
        const rows: string[][] = [];
        let size = 0;
        let inodes = 0;
        for (const chain of resolved.chainIds) {
          try {
            const u = await sn.usage(chain);
            size += u.size;
            inodes += u.inodes;
            rows.push([chain, humanBytes(u.size), String(u.inodes)]);
          } catch (err) {
            if (!isNotFound(err)) throw err;
            rows.push([chain, '-', '-']);
          }
        }
        rows.push(['TOTAL', humanBytes(size), String(inodes)]);
        process.stdout.write(table(['KEY', 'SIZE', 'INODES'], rows));
      }),
    );
}
