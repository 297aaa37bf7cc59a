// Importing and exporting image archives from the client, over the content,
// images, snapshots and diff services (what ctr does too, so both tools
// import into berthd the same way).

import { createReadStream } from 'node:fs';
import { isAlreadyExists } from '../core/errors/catalogue.js';
import { exportImages, type ExportOptions } from '../core/images/export.js';
import { importImages, type ImportedImage, type ImportOptions } from '../core/images/import.js';
import { targetOf, type Descriptor } from '../core/images/oci/types.js';
import type { PlatformMatcher } from '../core/images/oci/platform.js';
import type { Client } from './client.js';
import { contentOf } from './image-deps.js';
import { withLease } from './leased.js';
import { unpackWith } from './unpack.js';

export interface ImportArchiveOptions extends ImportOptions {
  /** Skip unpacking the imported images. */
  noUnpack?: boolean;
  snapshotter?: string;
  /** Labels on the created image records. */
  labels?: Record<string, string>;
}

export interface ImportResult extends ImportedImage {
  /** Top chain ID when unpacked. */
  chainId?: string;
}

/**
 * Imports an OCI layout or docker-save tar (a path, or a byte stream) and,
 * unless `noUnpack`, unpacks each image for the platform. Existing images of
 * the same names are pointed at the imported content.
 */
export async function importArchive(
  client: Client,
  source: string | AsyncIterable<Uint8Array>,
  opts: ImportArchiveOptions = {},
): Promise<ImportResult[]> {
  const stream = typeof source === 'string' ? createReadStream(source) : source;
  const refPrefix = opts.refPrefix ?? `import-${process.pid}-${Date.now()}`;
  try {
    return await importUnderLease(client, stream, { ...opts, refPrefix });
  } catch (err) {
    // A half-written blob of a failed import is no use to a later one (its
    // refs are unique to this import): drop it now, not when it expires.
    await abortIngests(client, refPrefix);
    throw err;
  }
}

/** Aborts this namespace's in-progress ingests whose ref starts with `prefix`; best effort. */
async function abortIngests(client: Client, prefix: string): Promise<void> {
  const statuses = await client.content.statuses().catch(() => []);
  await Promise.all(
    statuses
      .filter((s) => s.ref.startsWith(prefix))
      .map((s) => client.content.abort(s.ref).catch(() => {})),
  );
}

async function importUnderLease(
  client: Client,
  stream: AsyncIterable<Uint8Array>,
  opts: ImportArchiveOptions & { refPrefix: string },
): Promise<ImportResult[]> {
  return withLease(client, async (leased) => {
    const images = await importImages(
      stream,
      contentOf(leased),
      {
        put: async (name, target) => {
          const image = { name, target: targetOf(target), labels: opts.labels ?? {} };
          try {
            await leased.images.create(image);
          } catch (err) {
            if (!isAlreadyExists(err)) throw err;
            await leased.images.update(image, ['target', ...(opts.labels ? ['labels'] : [])]);
          }
        },
      },
      opts,
    );
    const out: ImportResult[] = [];
    for (const img of images) {
      if (opts.noUnpack) {
        out.push(img);
        continue;
      }
      const u = await unpackWith(leased, img.target, {
        snapshotter: opts.snapshotter,
        platform: opts.allPlatforms ? undefined : opts.platform,
      });
      out.push({ ...img, chainId: u.chainId });
    }
    return out;
  });
}

export interface ExportArchiveOptions extends ExportOptions {
  platform?: PlatformMatcher;
}

/** The OCI layout tar of the named images, as a byte stream. */
export async function exportArchive(
  client: Client,
  names: string[],
  opts: ExportArchiveOptions = {},
): Promise<AsyncGenerator<Buffer>> {
  const images: { name: string; target: Descriptor }[] = [];
  for (const name of names) {
    const img = await client.images.get(name);
    const t = img.target!;
    images.push({
      name,
      target: {
        mediaType: t.mediaType,
        digest: t.digest,
        size: Number(t.size),
        annotations: t.annotations,
      },
    });
  }
  return exportImages(contentOf(client), images, opts);
}
