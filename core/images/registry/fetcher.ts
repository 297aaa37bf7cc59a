// Fetching what a descriptor names: manifests and indexes from
// /manifests/<digest>, everything else from /blobs/<digest> (redirects to
// storage followed), from the first pull host that has it.

import { BerthError } from '../../errors/catalogue.js';
import { isIndexType, isManifestType } from '../oci/media-types.js';
import { MAX_MANIFEST_BYTES, type Descriptor } from '../oci/types.js';
import { digestOf } from '../../content/digest.js';
import type { RegistryHost } from './hosts.js';
import { MANIFEST_ACCEPT } from './resolver.js';
import { type Repository, statusError } from './repository.js';
import { body, discard, type HttpResponse } from './transport.js';

export interface Fetched {
  host: RegistryHost;
  /** The bytes, ending early with an error on a stall or a short body. */
  stream: AsyncIterable<Buffer>;
}

function isManifestLike(d: Descriptor): boolean {
  return isIndexType(d.mediaType) || isManifestType(d.mediaType);
}

/** The body checked against the descriptor's size: never more, never less. */
async function* sized(res: HttpResponse, desc: Descriptor, stallMs: number, what: string) {
  let n = 0;
  for await (const chunk of body(res, stallMs, what)) {
    n += chunk.length;
    if (n > desc.size) {
      throw new BerthError('DataLoss', `${what}: more data than the ${desc.size} bytes expected`);
    }
    yield chunk;
  }
  if (n < desc.size) {
    throw new BerthError('DataLoss', `${what}: connection ended after ${n} of ${desc.size} bytes`);
  }
}

async function open(repo: Repository, host: RegistryHost, desc: Descriptor): Promise<Fetched> {
  const manifest = isManifestLike(desc);
  const what = `fetching ${desc.digest} from ${host.host}`;
  const res = await repo.send(host, {
    method: 'GET',
    path: `${manifest ? 'manifests' : 'blobs'}/${desc.digest}`,
    headers: manifest ? { accept: MANIFEST_ACCEPT } : {},
    access: 'pull',
    what,
  });
  if (res.status === 404) {
    discard(res);
    throw new BerthError('NotFound', `${desc.digest}: not found on ${host.host}`);
  }
  if (res.status !== 200) throw await statusError(res, what);
  return { host, stream: sized(res, desc, repo.stallTimeoutMs, what) };
}

/** Opens the content of `desc` on the first pull host that has it. */
export async function fetch(repo: Repository, desc: Descriptor): Promise<Fetched> {
  return repo.eachHost('pull', (host) => open(repo, host, desc));
}

/** A manifest or index in memory, verified against its digest. */
export async function fetchManifestBytes(repo: Repository, desc: Descriptor): Promise<Buffer> {
  if (desc.size > MAX_MANIFEST_BYTES) {
    throw new BerthError(
      'InvalidArgument',
      `manifest ${desc.digest} is ${desc.size} bytes, more than the ${MAX_MANIFEST_BYTES} allowed`,
    );
  }
  const { stream } = await fetch(repo, desc);
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c);
  const data = Buffer.concat(parts);
  const algorithm = desc.digest.startsWith('sha512:') ? 'sha512' : 'sha256';
  if (digestOf(data, algorithm) !== desc.digest) {
    throw new BerthError('DataLoss', `manifest ${desc.digest}: content does not match its digest`);
  }
  return data;
}
