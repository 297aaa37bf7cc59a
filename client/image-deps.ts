// The image library's storage interfaces (plugins/images: unpack, import,
// export) over a client's content, snapshots and diff services.

import { errInvalidArgument, isNotFound } from '../core/errors/catalogue.js';
import type { ExportContent } from '../core/images/export.js';
import type { ImportContent } from '../core/images/import.js';
import type { Descriptor } from '../core/images/oci/types.js';
import type { LayerApplier, UnpackContent, UnpackSnapshots } from '../core/images/unpack.js';
import type { Client } from './client.js';
import { diffApi } from './diff.js';

async function readAll(client: Client, digest: string, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of client.content.read(digest)) {
    n += c.length;
    if (n > max) throw errInvalidArgument(`content ${digest} exceeds ${max} bytes`);
    parts.push(Buffer.from(c));
  }
  return Buffer.concat(parts);
}

export function contentOf(client: Client): UnpackContent & ImportContent & ExportContent {
  return {
    readBlob: (digest, max) => readAll(client, digest, max),
    read: (digest) => client.content.read(digest),
    labels: async (digest) => (await client.content.info(digest)).labels ?? {},
    setLabels: async (digest, labels) => {
      await client.content.setLabels(digest, labels);
    },
    has: async (digest) => {
      try {
        await client.content.info(digest);
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    },
    ingest: (ref, data, opts) =>
      client.content.ingest(ref, data, {
        expectedDigest: opts.expectedDigest,
        expectedSize: opts.expectedSize,
      }),
    peek: async (digest, n) => {
      const parts: Buffer[] = [];
      for await (const c of client.content.read(digest, { offset: 0, size: n }))
        parts.push(Buffer.from(c));
      return Buffer.concat(parts).subarray(0, n);
    },
  };
}

export function snapshotsOf(client: Client, snapshotter: string): UnpackSnapshots {
  const sn = client.snapshots(snapshotter);
  return {
    name: sn.snapshotter,
    stat: (key) => sn.stat(key),
    prepare: (key, parent, labels) => sn.prepare(key, parent, labels),
    commit: (name, key, labels) => sn.commit(name, key, labels),
    remove: (key) => sn.remove(key),
  };
}

export function applierOf(client: Client): LayerApplier {
  const diff = diffApi(client);
  return {
    apply: async (layer: Descriptor, mounts, signal) => {
      const applied = await diff.apply(
        {
          mediaType: layer.mediaType,
          digest: layer.digest,
          size: layer.size,
          annotations: layer.annotations,
        },
        mounts.map((m) => ({
          type: m.type,
          source: m.source,
          target: m.target ?? '',
          options: m.options,
        })),
        signal,
      );
      return { digest: applied.digest, size: Number(applied.size) };
    },
  };
}
