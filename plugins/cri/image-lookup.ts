// Which local image a CRI image reference names. The kubelet and crictl use
// every form: a name as recorded, a short or tagged name (`busybox`,
// `busybox:1.36`, docker.io/library filled in), a digest reference
// (`repo@sha256:…`, as RepoDigests lists it), the image id with or without
// `sha256:`, or an unambiguous prefix of it.

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

const ID_PREFIX = /^(?:sha256:)?([0-9a-f]{1,64})$/;

function parseOrUndefined(ref: string): Reference | undefined {
  try {
    return parseReference(ref);
  } catch {
    return undefined; // not a name: it may still be an id
  }
}

/** `repo@digest`: the repository is one of the image's and the digest its target or manifest. */
function matchesDigestRef<T extends LookupImage>(img: T, ref: Reference): boolean {
  const repo = repositoryName(ref);
  return img.names.some((n) => {
    const named = parseOrUndefined(n);
    if (!named || repositoryName(named) !== repo) return false;
    return ref.digest === img.targets[n] || ref.digest === img.manifestDigest;
  });
}

/**
 * The image `ref` names, or undefined. Names win over ids; an id prefix that
 * fits more than one image is an InvalidArgument naming them.
 */
export function lookupImage<T extends LookupImage>(
  images: readonly T[],
  ref: string,
): T | undefined {
  if (!ref) return undefined;
  const exact = images.find((i) => i.names.includes(ref));
  if (exact) return exact;
  const parsed = parseOrUndefined(ref);
  if (parsed?.digest) {
    const byDigest = images.find((i) => matchesDigestRef(i, parsed));
    if (byDigest) return byDigest;
  } else if (parsed) {
    const full = formatReference(parsed);
    const byName = images.find((i) => i.names.some((n) => n === full || normalized(n) === full));
    if (byName) return byName;
  }
  const hex = ID_PREFIX.exec(ref)?.[1];
  if (!hex) return undefined;
  const hits = images.filter((i) => i.id.startsWith(`sha256:${hex}`));
  if (hits.length > 1) {
    throw errInvalidArgument(
      `image id prefix ${JSON.stringify(ref)} is ambiguous: it matches ${hits.map((i) => i.id).join(', ')}`,
    );
  }
  return hits[0];
}

/** A recorded name in full form (records made by other clients may use short names). */
function normalized(name: string): string | undefined {
  const r = parseOrUndefined(name);
  return r && formatReference(r);
}
