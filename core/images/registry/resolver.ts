// Resolving a reference to the descriptor of its manifest or index: HEAD on
// /manifests/<tag|digest> with every manifest type we read in Accept, with a
// GET when the registry's HEAD answer leaves out digest, size or type.

import { BerthError, isBerthError } from '../../errors/catalogue.js';
import { digestOf, isDigest } from '../../content/digest.js';
import { MediaType, isIndexType, isManifestType } from '../oci/media-types.js';
import { MAX_MANIFEST_BYTES, type Descriptor } from '../oci/types.js';
import type { RegistryHost } from './hosts.js';
import { formatReference, objectOf } from './reference.js';
import { type Repository, statusError } from './repository.js';
import { discard, readAll, responseHeader } from './transport.js';

/** Accept header for manifests: indexes and manifests, OCI and Docker schema 2. */
export const MANIFEST_ACCEPT = [
  MediaType.OCIIndex,
  MediaType.DockerManifestList,
  MediaType.OCIManifest,
  MediaType.DockerManifest,
  '*/*',
].join(', ');

export interface Resolved {
  /** Fully qualified reference (`docker.io/library/busybox:latest`). */
  name: string;
  descriptor: Descriptor;
  /** The host that answered. */
  host: RegistryHost;
}

function contentType(v: string | undefined): string {
  return (v ?? '').split(';')[0]!.trim();
}

/** The manifest's media type: the header, or the document's own mediaType field. */
function sniffMediaType(header: string, body?: Buffer): string {
  if (isIndexType(header) || isManifestType(header)) return header;
  if (body) {
    try {
      const doc = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      if (typeof doc.mediaType === 'string' && doc.mediaType) return doc.mediaType;
      if (Array.isArray(doc.manifests)) return MediaType.OCIIndex;
      if (doc.config && Array.isArray(doc.layers)) return MediaType.OCIManifest;
      if (doc.schemaVersion === 1) {
        throw new BerthError(
          'NotImplemented',
          'Docker schema 1 manifests are not supported; push the image again with a current client',
        );
      }
    } catch (err) {
      if (isBerthError(err)) throw err;
    }
  }
  return header;
}

async function resolveOn(repo: Repository, host: RegistryHost): Promise<Resolved> {
  const ref = repo.ref;
  const name = formatReference(ref);
  const what = `resolving ${name} on ${host.host}`;
  const path = `manifests/${objectOf(ref)}`;
  const head = await repo.send(host, {
    method: 'HEAD',
    path,
    headers: { accept: MANIFEST_ACCEPT },
    access: 'pull',
    what,
  });
  if (head.status === 404) {
    discard(head);
    throw new BerthError('NotFound', `${name}: not found on ${host.host}`);
  }
  if (head.status === 200) {
    discard(head);
    const digest = responseHeader(head.headers, 'docker-content-digest') ?? ref.digest;
    const size = Number(responseHeader(head.headers, 'content-length') ?? NaN);
    const mt = contentType(responseHeader(head.headers, 'content-type'));
    if (
      digest &&
      isDigest(digest) &&
      Number.isSafeInteger(size) &&
      size > 0 &&
      (isIndexType(mt) || isManifestType(mt))
    ) {
      if (ref.digest && digest !== ref.digest) {
        throw new BerthError('DataLoss', `${what}: registry answered ${digest} for ${ref.digest}`);
      }
      return { name, descriptor: { mediaType: mt, digest, size }, host };
    }
  } else if (head.status !== 405 && head.status !== 400) {
    // Some registries refuse HEAD; a GET below covers those.
    throw await statusError(head, what);
  } else {
    discard(head);
  }
  const get = await repo.send(host, {
    method: 'GET',
    path,
    headers: { accept: MANIFEST_ACCEPT },
    access: 'pull',
    what,
  });
  if (get.status === 404) {
    discard(get);
    throw new BerthError('NotFound', `${name}: not found on ${host.host}`);
  }
  if (get.status !== 200) throw await statusError(get, what);
  const body = await readAll(get, repo.stallTimeoutMs, what, MAX_MANIFEST_BYTES);
  const digest = ref.digest ?? digestOf(body);
  if (
    ref.digest &&
    digestOf(body, ref.digest.startsWith('sha512:') ? 'sha512' : 'sha256') !== ref.digest
  ) {
    throw new BerthError('DataLoss', `${what}: manifest content does not match ${ref.digest}`);
  }
  const mt = sniffMediaType(contentType(responseHeader(get.headers, 'content-type')), body);
  if (!isIndexType(mt) && !isManifestType(mt)) {
    throw new BerthError(
      'NotImplemented',
      `${what}: unsupported manifest media type ${JSON.stringify(mt)}`,
    );
  }
  return { name, descriptor: { mediaType: mt, digest, size: body.length }, host };
}

/**
 * Resolves the repository's reference on the hosts that may resolve it,
 * mirrors first. NotFound when no host has it.
 */
export async function resolve(repo: Repository): Promise<Resolved> {
  try {
    return await repo.eachHost('resolve', (host) => resolveOn(repo, host));
  } catch (err) {
    if (isBerthError(err, 'NotFound')) {
      throw new BerthError(
        'NotFound',
        `failed to resolve reference "${formatReference(repo.ref)}": not found`,
      );
    }
    throw err;
  }
}
