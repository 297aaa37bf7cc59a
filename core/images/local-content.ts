// The image library's content interface (pull and unpack) over the daemon's
// own content store in one namespace, for in-process users such as the CRI:
// no socket hop, and everything written is recorded under the given lease.

import { errInvalidArgument, isAlreadyExists, isNotFound } from '../errors/catalogue.js';
import type { ContentMetadataStore } from '../metadata/content.js';
import type { LeaseStore } from '../metadata/leases.js';
import type { PullContent } from './pull.js';

export function localImageContent(
  store: ContentMetadataStore,
  namespace: string,
  lease?: { id: string; leases: Pick<LeaseStore, 'addResource'> },
): PullContent {
  return {
    readBlob: async (digest, max) => {
      const info = await store.info(namespace, digest);
      if (info.size > max) throw errInvalidArgument(`content ${digest} exceeds ${max} bytes`);
      const parts: Buffer[] = [];
      for await (const c of store.read(namespace, digest)) parts.push(c.data);
      return Buffer.concat(parts);
    },
    labels: async (digest) => (await store.info(namespace, digest)).labels,
    setLabels: async (digest, labels) => {
      await store.update(
        namespace,
        { digest, labels },
        Object.keys(labels).map((k) => `labels.${k}`),
      );
    },
    keep: async (digest) => {
      if (lease)
        await lease.leases.addResource(namespace, lease.id, { id: digest, type: 'content' });
    },
    ingestOffset: async (ref) => {
      try {
        return (await store.status(namespace, ref)).offset;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    write: async (ref, desc, data, labels) => {
      let w;
      try {
        w = await store.writer(namespace, ref, {
          total: desc.size,
          expected: desc.digest,
          lease: lease?.id,
        });
      } catch (err) {
        if (isAlreadyExists(err)) return false;
        throw err;
      }
      try {
        if (w.offset > 0) await w.truncate(0); // an earlier attempt's leftovers: start over
        for await (const chunk of data()) await w.write(chunk);
      } catch (err) {
        // Discarded while still held, so no other writer's ingest is touched.
        await store.abort(namespace, ref).catch(() => undefined);
        await w.close().catch(() => undefined);
        throw err;
      }
      try {
        await w.commit(desc.size, desc.digest, labels);
        return true;
      } catch (err) {
        // Stored meanwhile by another writer; its commit already removed this ingest.
        if (isAlreadyExists(err)) return false;
        // Commit released the ref: discard the ingest only once it is ours again.
        const again = await store.writer(namespace, ref).catch(() => undefined);
        if (again) {
          await store.abort(namespace, ref).catch(() => undefined);
          await again.close().catch(() => undefined);
        }
        throw err;
      }
    },
  };
}
