// Pushing to a registry (OCI distribution spec): a blob is skipped when HEAD
// finds it, otherwise uploaded in one PUT after POST opens an upload, or in
// PATCH chunks when it is larger than the chunk size; manifests go last with
// PUT /manifests/<tag|digest>. Pushes go to the first host with `push`.

import { BerthError } from '../../errors/catalogue.js';
import type { Descriptor } from '../oci/types.js';
import type { RegistryHost } from './hosts.js';
import { type Repository, statusError } from './repository.js';
import { discard, type HttpResponse, responseHeader } from './transport.js';

/** Blobs up to this size go up in one PUT; larger ones in PATCH chunks of it. */
export const DEFAULT_CHUNK_SIZE = 32 << 20;

export interface BlobPushOptions {
  chunkSize?: number;
  /** Bytes sent so far, after each chunk of the source. */
  onProgress?: (sent: number) => void;
}

/** The host pushes go to. */
export function pushHost(repo: Repository): RegistryHost {
  return repo.hostsFor('push')[0]!;
}

/** True when the registry already has the blob. */
export async function blobExists(repo: Repository, desc: Descriptor): Promise<boolean> {
  const host = pushHost(repo);
  const res = await repo.send(host, {
    method: 'HEAD',
    path: `blobs/${desc.digest}`,
    access: 'pull,push',
    what: `checking ${desc.digest} on ${host.host}`,
  });
  discard(res);
  if (res.status === 200) return true;
  if (res.status === 404) return false;
  throw await statusError(res, `checking ${desc.digest} on ${host.host}`);
}

function uploadLocation(res: HttpResponse, base: string, what: string): URL {
  const loc = responseHeader(res.headers, 'location');
  if (!loc) throw new BerthError('Unknown', `${what}: registry gave no upload location`);
  return new URL(loc, base);
}

/** Counts bytes as they pass. */
async function* counted(source: AsyncIterable<Uint8Array>, onProgress?: (n: number) => void) {
  let n = 0;
  for await (const c of source) {
    n += c.length;
    yield c;
    onProgress?.(n);
  }
}

/** Regroups a byte source into buffers of exactly `size` bytes (the last may be shorter). */
async function* chunksOf(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let have = 0;
  for await (const c of source) {
    let buf = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    while (buf.length > 0) {
      const take = Math.min(size - have, buf.length);
      parts.push(buf.subarray(0, take));
      have += take;
      buf = buf.subarray(take);
      if (have === size) {
        yield Buffer.concat(parts);
        parts = [];
        have = 0;
      }
    }
  }
  if (have > 0) yield Buffer.concat(parts);
}

/**
 * Uploads a blob unless the registry has it. `open` is called for each
 * attempt and must yield exactly `desc.size` bytes. Returns false when the
 * blob was already there.
 */
export async function pushBlob(
  repo: Repository,
  desc: Descriptor,
  open: () => AsyncIterable<Uint8Array>,
  opts: BlobPushOptions = {},
): Promise<boolean> {
  if (await blobExists(repo, desc)) return false;
  const host = pushHost(repo);
  const what = `pushing ${desc.digest} to ${host.host}`;
  const start = await repo.send(host, {
    method: 'POST',
    path: 'blobs/uploads/',
    headers: { 'content-length': '0' },
    access: 'pull,push',
    what,
  });
  if (start.status === 201) {
    discard(start); // already there (a registry may answer the POST so)
    return false;
  }
  if (start.status !== 202) throw await statusError(start, what);
  discard(start);
  let location = uploadLocation(start, start.url, what);
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const finish = (loc: URL) => {
    const u = new URL(loc);
    u.searchParams.set('digest', desc.digest);
    return u.href;
  };
  if (desc.size <= chunkSize) {
    const res = await repo.send(host, {
      method: 'PUT',
      path: finish(location),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
      body: () => counted(open(), opts.onProgress),
      access: 'pull,push',
      what,
    });
    if (res.status !== 201) throw await statusError(res, what);
    discard(res);
    return true;
  }
  let offset = 0;
  for await (const chunk of chunksOf(open(), chunkSize)) {
    const res = await repo.send(host, {
      method: 'PATCH',
      path: location.href,
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `${offset}-${offset + chunk.length - 1}`,
      },
      body: chunk,
      access: 'pull,push',
      what: `${what} (bytes ${offset}-${offset + chunk.length - 1})`,
    });
    if (res.status !== 202) throw await statusError(res, what);
    discard(res);
    location = uploadLocation(res, location.href, what);
    offset += chunk.length;
    opts.onProgress?.(offset);
  }
  if (offset !== desc.size) {
    throw new BerthError('DataLoss', `${what}: source gave ${offset} of ${desc.size} bytes`);
  }
  const res = await repo.send(host, {
    method: 'PUT',
    path: finish(location),
    headers: { 'content-length': '0' },
    access: 'pull,push',
    what,
  });
  if (res.status !== 201) throw await statusError(res, what);
  discard(res);
  return true;
}

/** PUTs a manifest or index under a tag or its digest. */
export async function pushManifest(
  repo: Repository,
  desc: Descriptor,
  data: Uint8Array,
  reference: string = desc.digest,
): Promise<void> {
  const host = pushHost(repo);
  const what = `pushing manifest ${reference} to ${host.host}/${repo.ref.path}`;
  const res = await repo.send(host, {
    method: 'PUT',
    path: `manifests/${reference}`,
    headers: { 'content-type': desc.mediaType },
    body: data,
    access: 'pull,push',
    what,
  });
  if (res.status !== 201 && res.status !== 200) throw await statusError(res, what);
  discard(res);
  const got = responseHeader(res.headers, 'docker-content-digest');
  if (got && got !== desc.digest) {
    throw new BerthError('DataLoss', `${what}: registry stored it as ${got}, not ${desc.digest}`);
  }
}
