// Which local image a CRI image reference names. The kubelet and crictl use
// every form: a name as recorded, a short or tagged name (`busybox`,
// `busybox:1.36`, docker.io/library filled in), a digest reference
// (`repo@sha256:…`, as RepoDigests lists it), the image id with or without
// `sha256:`, or an unambiguous prefix of it. Every form but an id prefix is a
// map lookup in a catalog built once per change of the images.

import { errInvalidArgument } from '../../core/errors/catalogue.js';
import {
  formatReference,
  parseReference,
  type Reference,
  repositoryName,
} from '../../core/images/registry/reference.js';

/** What the lookup needs of an image: its id, its names and what each name points at. */
export interface LookupImage {
  /** The config digest. */
  id: string;
  names: string[];
  /** name → digest of the record's target (a manifest or an index). */
  targets: Record<string, string>;
  /** The manifest chosen for this host. */
  manifestDigest: string;
}

/** Images with the maps the lookup uses. */
export interface ImageCatalog<T extends LookupImage> {
  readonly all: readonly T[];
  /** By a name as recorded. */
  readonly exact: ReadonlyMap<string, T>;
  /** By the full form of a recorded name (records of other clients may use short names). */
  readonly full: ReadonlyMap<string, T>;
  /** By `repository@digest`, the digest a record's target or the manifest for this host. */
  readonly digests: ReadonlyMap<string, T>;
  readonly ids: ReadonlyMap<string, T>;
}

const ID_PREFIX = /^(?:sha256:)?([0-9a-f]{1,64})$/;

function parseOrUndefined(ref: string): Reference | undefined {
  try {
    return parseReference(ref);
  } catch {
    return undefined; // not a name: it may still be an id
  }
}

/** The maps for `images`; where two images claim a key, the first listed keeps it. */
export function catalogOf<T extends LookupImage>(images: readonly T[]): ImageCatalog<T> {
  const exact = new Map<string, T>();
  const full = new Map<string, T>();
  const digests = new Map<string, T>();
  const ids = new Map<string, T>();
  const add = (m: Map<string, T>, k: string, v: T) => {
    if (!m.has(k)) m.set(k, v);
  };
  for (const img of images) {
    add(ids, img.id, img);
    for (const n of img.names) {
      add(exact, n, img);
      const parsed = parseOrUndefined(n);
      if (!parsed) continue;
      add(full, formatReference(parsed), img);
      const repo = repositoryName(parsed);
      const target = img.targets[n];
      if (target) add(digests, `${repo}@${target}`, img);
      add(digests, `${repo}@${img.manifestDigest}`, img);
    }
  }
  return { all: images, exact, full, digests, ids };
}

/**
 * The image `ref` names, or undefined. Names win over ids; an id prefix that
 * fits more than one image is an InvalidArgument naming them.
 */
export function lookupImage<T extends LookupImage>(
  catalog: ImageCatalog<T>,
  ref: string,
): T | undefined {
  if (!ref) return undefined;
  const exact = catalog.exact.get(ref);
  if (exact) return exact;
  const parsed = parseOrUndefined(ref);
  if (parsed?.digest) {
    const byDigest = catalog.digests.get(`${repositoryName(parsed)}@${parsed.digest}`);
    if (byDigest) return byDigest;
  } else if (parsed) {
    const full = formatReference(parsed);
    const byName = catalog.exact.get(full) ?? catalog.full.get(full);
    if (byName) return byName;
  }
  const hex = ID_PREFIX.exec(ref)?.[1];
  if (!hex) return undefined;
  const id = `sha256:${hex}`;
  const whole = catalog.ids.get(id);
  if (whole) return whole;
  const hits = catalog.all.filter((i) => i.id.startsWith(id));
  if (hits.length > 1) {
    throw errInvalidArgument(
      `image id prefix ${JSON.stringify(ref)} is ambiguous: it matches ${hits.map((i) => i.id).join(', ')}`,
    );
  }
  return hits[0];
}
