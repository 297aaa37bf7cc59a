// `berth images pull|push` and `berth content fetch`: transfers between a
// registry and berthd's content store, with progress bars on stderr.

import type { Command } from 'commander';
import { fetchImage, pull } from '../../client/pull.js';
import { push } from '../../client/push.js';
import { withClient } from './context.js';
import { addRegistryFlags, type RegistryFlags, registryOptions } from './registry-flags.js';
import { TransferBars } from './transfer-bars.js';

interface PullFlags extends RegistryFlags {
  platform?: string;
  allPlatforms?: boolean;
  unpack?: boolean;
  snapshotter?: string;
}

interface PushFlags extends RegistryFlags {
  platform?: string;
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)}s`;
}

export function registerImagePull(images: Command): void {
  addRegistryFlags(
    images
      .command('pull <ref>')
      .description('fetch an image from a registry, record it and unpack it')
      .option('--platform <os/arch[/variant]>', 'platform to pull (default: this host)')
      .option('--all-platforms', 'fetch the content of every platform')
      .option('--no-unpack', 'fetch and record only; no snapshots')
      .option('--snapshotter <name>', 'snapshotter to unpack into (default overlayfs)'),
    'downloads',
  ).action(
    withClient(async (client, ref: string, f: PullFlags) => {
      const started = Date.now();
      const bars = new TransferBars();
      try {
        const r = await pull(client, ref, {
          ...registryOptions(f),
          platform: f.platform,
          allPlatforms: f.allPlatforms,
          maxConcurrentDownloads: f.maxConcurrent,
          unpack: f.unpack !== false,
          snapshotter: f.snapshotter,
          onProgress: bars.handler,
        });
        bars.stop();
        process.stdout.write(`${r.name} ${r.target.digest}\n`);
        process.stderr.write(`pulled in ${seconds(started)} (${r.fetched} blobs fetched)\n`);
      } finally {
        bars.stop();
      }
    }),
  );
}

export function registerImagePush(images: Command): void {
  addRegistryFlags(
    images
      .command('push <remote> [local]')
      .description('push a local image (default: the one named <remote>) to a registry')
      .option('--platform <os/arch[/variant]>', "push only this platform's manifest"),
    'uploads',
  ).action(
    withClient(async (client, remote: string, local: string | undefined, f: PushFlags) => {
      const started = Date.now();
      const bars = new TransferBars();
      try {
        const r = await push(client, remote, {
          ...registryOptions(f),
          local,
          platform: f.platform,
          maxConcurrentUploads: f.maxConcurrent,
          onProgress: bars.handler,
        });
        bars.stop();
        process.stdout.write(`${r.name} ${r.target.digest}\n`);
        process.stderr.write(`pushed in ${seconds(started)} (${r.uploaded} blobs uploaded)\n`);
      } finally {
        bars.stop();
      }
    }),
  );
}

export function registerContentFetch(content: Command): void {
  addRegistryFlags(
    content
      .command('fetch <ref>')
      .description("fetch an image's content from a registry into the store and record the image")
      .option('--platform <os/arch[/variant]>', 'platform to fetch (default: this host)')
      .option('--all-platforms', 'fetch the content of every platform'),
    'downloads',
  ).action(
    withClient(async (client, ref: string, f: PullFlags) => {
      const bars = new TransferBars();
      try {
        const r = await fetchImage(client, ref, {
          ...registryOptions(f),
          platform: f.platform,
          allPlatforms: f.allPlatforms,
          maxConcurrentDownloads: f.maxConcurrent,
          onProgress: bars.handler,
        });
        bars.stop();
        process.stdout.write(`${r.name} ${r.target.digest}\n`);
      } finally {
        bars.stop();
      }
    }),
  );
}
