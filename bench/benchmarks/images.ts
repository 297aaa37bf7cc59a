// Images, berthd next to Debian's containerd, each driven two ways (its own
// CLI: `berth` / `ctr` with the same arguments; and Berth's client library,
// the same code against both daemons):
//
//  - import of the fixture busybox image (OCI layout tar), unpack included;
//  - pull of a multi-layer image (busybox base + 5 × 20 MiB random layers)
//    from Debian's docker-registry on 127.0.0.1, unpack included: MB/s over
//    the compressed bytes;
//  - import of a ~200 MiB image of 20 000 small random files, unpack included
//    (CLI), and with the library the import without unpack and the unpack
//    alone, timed separately.
//
// Before every run the namespace is emptied: images deleted with synchronous
// GC, and nothing (content, snapshots, leases) may be left, so every run
// writes and unpacks everything. The daemons take turns in alternating order.

import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { importArchive } from '../../client/import.js';
import { pull } from '../../client/pull.js';
import { unpack } from '../../client/unpack.js';
import { busyboxImage, writeImageArchive } from '../../test/fixtures/image-builder.js';
import { haveDockerRegistry, seedImage, startRegistry } from '../../test/helpers/registry.js';
import type { Benchmark, BenchContext } from '../benchmark.js';
import { type ImageHost, startImageHost } from '../lib/image-hosts.js';
import { haveContainerd } from '../lib/paths.js';
import { median } from '../lib/stats.js';
import { syntheticImage } from '../lib/synthetic-image.js';
import { printComparison } from '../lib/table.js';
import { tempDir } from '../lib/tempdir.js';

const MB = 1e6;
const MiB = 1 << 20;

export const PULL_LAYERS = 5;
export const PULL_LAYER_BYTES = 20 * MiB;
export const BIG_FILES = 20_000;
export const BIG_FILE_BYTES = 10 * 1024;

/** Named durations (ms) of one run. */
type Sample = Record<string, number>;

/**
 * Runs `op` on every host `warmup + runs` times, alternating which host goes
 * first, each time from an emptied namespace. Returns the measured samples per host.
 */
async function measure(
  ctx: BenchContext,
  hosts: ImageHost[],
  what: string,
  op: (h: ImageHost) => Promise<Sample>,
): Promise<Sample[][]> {
  const samples: Sample[][] = hosts.map(() => []);
  const total = ctx.warmup + ctx.runs;
  for (let i = 0; i < total; i++) {
    const order = hosts.map((_, j) => j);
    if (i % 2 === 1) order.reverse();
    for (const j of order) {
      const h = hosts[j]!;
      ctx.progress(`${what}: ${h.label} ${i < ctx.warmup ? 'warm-up' : 'run'} ${i + 1}/${total}`);
      await h.reset();
      const s = await op(h);
      if (i >= ctx.warmup) samples[j]!.push(s);
    }
  }
  for (const h of hosts) await h.reset();
  return samples;
}

const timed = async (fn: () => Promise<unknown>): Promise<number> => {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
};

/** Median of one named duration per host. */
const med = (samples: Sample[][], key: string): (number | undefined)[] =>
  samples.map((s) => (s.length ? median(s.map((x) => x[key]!)) : undefined));

/** Megabytes per second for `bytes` over the median duration of `key`. */
const rate = (samples: Sample[][], key: string, bytes: number): (number | undefined)[] =>
  med(samples, key).map((ms) => (ms === undefined ? undefined : bytes / MB / (ms / 1000)));

function printRows(
  hosts: ImageHost[],
  title: string,
  rows: { metric: string; values: (number | undefined)[]; digits?: number }[],
): void {
  printComparison({
    title,
    subjects: hosts.map((h) => h.label),
    ratios: hosts.length === 2 ? [[0, 1]] : [],
    rows,
  });
}

async function importBusybox(ctx: BenchContext, hosts: ImageHost[], dir: string): Promise<void> {
  const img = await busyboxImage();
  const tar = path.join(dir, 'busybox.tar');
  writeImageArchive(img, tar);
  const cli = await measure(ctx, hosts, 'import busybox (CLI)', async (h) => ({
    total: await timed(() => h.cli(['images', 'import', tar])),
  }));
  const lib = await measure(ctx, hosts, 'import busybox (library)', async (h) => ({
    total: await timed(() => importArchive(h.client, tar)),
  }));
  const bytes = img.layers.reduce((n, l) => n + l.size, 0);
  printRows(
    hosts,
    `Import of the fixture busybox image (${img.layers.length} layers, ${(bytes / MiB).toFixed(1)} MiB compressed; ${ctx.runs} runs each, median ms)`,
    [
      { metric: 'CLI: `images import TAR`', values: med(cli, 'total') },
      { metric: 'library: importArchive', values: med(lib, 'total') },
    ],
  );
}

async function pullMultiLayer(ctx: BenchContext, hosts: ImageHost[]): Promise<void> {
  if (!haveDockerRegistry) {
    process.stdout.write('\npull: /usr/bin/docker-registry not installed, skipped\n');
    return;
  }
  ctx.progress('pull: building the image');
  const img = await syntheticImage({
    ref: 'bench/multi-layer:1',
    layers: Array.from({ length: PULL_LAYERS }, (_, i) => ({
      dir: `data/${i}`,
      files: 20,
      fileSize: PULL_LAYER_BYTES / 20,
    })),
  });
  const registry = await startRegistry();
  ctx.cleanup.defer(`stop docker-registry (pid ${registry.proc.pid})`, registry.dispose);
  ctx.progress('pull: seeding the registry');
  await seedImage(img, `${registry.host}/bench/multi-layer`, { tag: '1' });
  const ref = `${registry.host}/bench/multi-layer:1`;
  const cli = await measure(ctx, hosts, 'pull (CLI)', async (h) => ({
    total: await timed(() => h.cli(['images', 'pull', '--plain-http', ref])),
  }));
  const lib = await measure(ctx, hosts, 'pull (library)', async (h) => ({
    total: await timed(() => pull(h.client, ref, { plainHttp: true, hostsDir: '/nonexistent' })),
  }));
  const bytes = img.compressedBytes;
  printRows(
    hosts,
    `Pull from docker-registry on 127.0.0.1, unpack included (${img.layers.length} layers, ${(bytes / MiB).toFixed(1)} MiB compressed, ${(img.uncompressedBytes / MiB).toFixed(1)} MiB unpacked; ${ctx.runs} runs each)`,
    [
      {
        metric: 'CLI: `images pull --plain-http`, median s',
        values: sec(med(cli, 'total')),
        digits: 2,
      },
      { metric: 'CLI: MB/s (compressed bytes / median)', values: rate(cli, 'total', bytes) },
      { metric: 'library: pull(), median s', values: sec(med(lib, 'total')), digits: 2 },
      { metric: 'library: MB/s (compressed bytes / median)', values: rate(lib, 'total', bytes) },
    ],
  );
}

const sec = (v: (number | undefined)[]) =>
  v.map((ms) => (ms === undefined ? undefined : ms / 1000));

async function unpackLarge(ctx: BenchContext, hosts: ImageHost[], dir: string): Promise<void> {
  ctx.progress('unpack: building the image');
  const img = await syntheticImage({
    ref: 'bench/many-files:1',
    layers: [{ dir: 'data', files: BIG_FILES, fileSize: BIG_FILE_BYTES }],
  });
  const tar = path.join(dir, 'many-files.tar');
  writeImageArchive(img, tar);
  const bigLayer = path.join(dir, 'many-files-layer.tar.gz');
  await writeFile(bigLayer, img.blobs.get(img.layers.at(-1)!.digest)!);
  // The archive is on disk; drop the in-memory blobs before measuring.
  img.blobs.clear();
  const cli = await measure(ctx, hosts, 'large image (CLI)', async (h) => ({
    total: await timed(() => h.cli(['images', 'import', tar])),
  }));
  const lib = await measure(ctx, hosts, 'large image (library)', async (h) => {
    let target: Awaited<ReturnType<typeof importArchive>>[number]['target'] | undefined;
    const importMs = await timed(async () => {
      target = (await importArchive(h.client, tar, { noUnpack: true }))[0]!.target;
    });
    const unpackMs = await timed(() => unpack(h.client, target!));
    return { import: importMs, unpack: unpackMs, total: importMs + unpackMs };
  });
  const files = img.randomFiles;
  printRows(
    hosts,
    `Large image: ${files} files of ${BIG_FILE_BYTES / 1024} KiB on busybox (${(img.compressedBytes / MiB).toFixed(1)} MiB compressed, ${(img.uncompressedBytes / MiB).toFixed(1)} MiB of tar; ${ctx.runs} runs each)`,
    [
      {
        metric: 'CLI: `images import TAR` (with unpack), median s',
        values: sec(med(cli, 'total')),
        digits: 2,
      },
      {
        metric: 'library: importArchive --no-unpack, median s',
        values: sec(med(lib, 'import')),
        digits: 2,
      },
      { metric: 'library: unpack, median s', values: sec(med(lib, 'unpack')), digits: 2 },
      {
        metric: 'library: unpack, MB/s of tar',
        values: rate(lib, 'unpack', img.uncompressedBytes),
      },
      {
        metric: 'library: unpack, files/s',
        values: med(lib, 'unpack').map((ms) =>
          ms === undefined ? undefined : files / (ms / 1000),
        ),
        digits: 0,
      },
    ],
  );
  // The floor the kernel and disk set: GNU tar extracting the same layer once.
  const out = path.join(dir, 'tar-x');
  await mkdir(out);
  ctx.progress('unpack: GNU tar reference');
  const tarMs = await timed(() =>
    promisify(execFile)('tar', ['-xzf', bigLayer, '-C', out], { maxBuffer: 1 << 20 }),
  );
  await rm(out, { recursive: true, force: true });
  process.stdout.write(
    `reference: \`tar -xzf\` (GNU tar) of the same layer into an empty directory, one run: ${(tarMs / 1000).toFixed(2)} s\n`,
  );
}

export const imagesBenchmark: Benchmark = {
  name: 'images',
  description:
    'image import, registry pull (MB/s) and unpack of a ~200 MiB many-file image, berthd and containerd',
  async run(ctx) {
    const dir = (await tempDir(ctx.cleanup, 'images-bench-')).path;
    await mkdir(dir, { recursive: true });
    const hosts = [await startImageHost('berthd', ctx.cleanup)];
    if (haveContainerd()) hosts.push(await startImageHost('containerd', ctx.cleanup));
    process.stdout.write(
      '\nimages: CLI rows run `berth` (Berth) and `ctr` (containerd) with the same arguments; ' +
        "library rows run Berth's client library against both daemons. Snapshotter overlayfs; " +
        'each run starts from an empty namespace.\n',
    );
    await importBusybox(ctx, hosts, dir);
    await pullMultiLayer(ctx, hosts);
    await unpackLarge(ctx, hosts, dir);
  },
};
