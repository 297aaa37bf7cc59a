// A daemon for the image benchmarks, driven two ways: its own command-line
// tool (`berth` for berthd, `ctr` for containerd, with identical arguments
// such as `images import TAR` or `images pull --plain-http REF`), and Berth's
// client library, which speaks containerd's API and so drives both daemons
// through the same code. Between runs everything the namespace holds is
// removed and collected, so each run starts from empty content and snapshot
// stores.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Client } from '../../client/client.js';
import { unmountUnder } from '../../test/helpers/cri.js';
import type { Cleanup } from './cleanup.js';
import { type DaemonHandle, type DaemonKind, startDaemon } from './daemons.js';
import { CTR, REPO_ROOT } from './paths.js';
import { sleep } from './processes.js';

export const IMAGE_BENCH_NAMESPACE = 'berth-bench';
const SNAPSHOTTER = 'overlayfs';

/** The berth CLI: the bundle from cmd/build.mjs when built, else tsc's output. */
export const BERTH_CLI = existsSync(path.join(REPO_ROOT, 'dist', 'berth.cjs'))
  ? path.join(REPO_ROOT, 'dist', 'berth.cjs')
  : path.join(REPO_ROOT, 'dist', 'cmd', 'berth.js');

export interface ImageHost {
  /** Column label: "Berth" or "containerd". */
  label: string;
  kind: DaemonKind;
  daemon: DaemonHandle;
  /** Berth's client library against this daemon, in the bench namespace. */
  client: Client;
  /** Runs the daemon's own CLI (berth or ctr) with `args` after the address and namespace. */
  cli(args: string[], timeoutMs?: number): Promise<string>;
  /** Deletes every image of the namespace (synchronous GC) and waits until no content, snapshot or lease is left. */
  reset(): Promise<void>;
  dispose(): Promise<void>;
}

function runTool(command: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { timeout: timeoutMs, maxBuffer: 16 << 20, env: { ...process.env, NO_COLOR: '1' } },
      (err, stdout, stderr) => {
        if (err)
          reject(
            new Error(`${path.basename(command)} ${args.join(' ')}: ${err.message}\n${stderr}`),
          );
        else resolve(stdout);
      },
    );
  });
}

async function leftovers(client: Client): Promise<string[]> {
  const [images, content, snapshots, leases] = await Promise.all([
    client.images.list(),
    client.content.list(),
    client.snapshots(SNAPSHOTTER).list(),
    client.leases.list(),
  ]);
  const out: string[] = [];
  if (images.length) out.push(`${images.length} images`);
  if (content.length) out.push(`${content.length} blobs`);
  if (snapshots.length) out.push(`${snapshots.length} snapshots`);
  if (leases.length) out.push(`${leases.length} leases`);
  return out;
}

export async function startImageHost(kind: DaemonKind, cleanup: Cleanup): Promise<ImageHost> {
  const daemon = await startDaemon(kind, cleanup);
  const client = new Client({
    address: daemon.socket,
    namespace: IMAGE_BENCH_NAMESPACE,
    timeoutMs: 120_000,
  });
  const [command, prefix] =
    kind === 'berthd' ? [process.execPath, [BERTH_CLI]] : [CTR, [] as string[]];
  const disposal = cleanup.defer(`stop image ${kind}`, async () => {
    client.close();
    await daemon.stop(5000);
    // A killed apply can leave a temporary mount behind.
    await unmountUnder(daemon.dir);
    await daemon.dispose();
  });
  return {
    label: kind === 'berthd' ? 'Berth' : 'containerd',
    kind,
    daemon,
    client,
    cli: (args, timeoutMs = 600_000) =>
      runTool(
        command,
        [...prefix, '-a', daemon.socket, '-n', IMAGE_BENCH_NAMESPACE, ...args],
        timeoutMs,
      ),
    async reset() {
      for (const img of await client.images.list())
        await client.images.delete(img.name, { sync: true });
      // Deleting a lease with `sync` collects synchronously in both daemons: this
      // also clears what a failed run left without an image record.
      const lease = await client.leases.create();
      await client.leases.delete(lease.id, { sync: true });
      // The poll covers a backend that removes snapshot directories a moment later.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const left = await leftovers(client);
        if (left.length === 0) return;
        if (Date.now() > deadline)
          throw new Error(`${kind}: still holds ${left.join(', ')} after the images were deleted`);
        await sleep(50);
      }
    },
    dispose: disposal.now,
  };
}
