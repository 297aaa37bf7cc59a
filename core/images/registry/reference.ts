// Image references as Docker spells them: `busybox`, `ghcr.io/org/app:1.2`,
// `localhost:5000/x@sha256:…`. Normalisation fills in what the short form
// leaves out (docker.io, library/, :latest), so every layer below works with
// fully qualified names.

import { errInvalidArgument } from '../../errors/catalogue.js';

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
export const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
const MAX_NAME_LENGTH = 255;

// The distribution grammar, one piece per line.
const alnum = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]*)';
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domain = `(?:${domainComponent}(?:\\.${domainComponent})*|${ipv6})(?::[0-9]+)?`;
const tag = '[\\w][\\w.-]{0,127}';
const digest = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';

const referenceRe = new RegExp(
  `^((?:${domain}/)?${pathComponent}(?:/${pathComponent})*)(?::(${tag}))?(?:@(${digest}))?$`,
);
const domainRe = new RegExp(`^${domain}$`);
const hexByAlgorithm: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

export interface Reference {
  /** Registry host, with port when given (`docker.io`, `127.0.0.1:5000`). */
  domain: string;
  /** Repository path inside the registry (`library/busybox`). */
  path: string;
  tag?: string;
  digest?: string;
}

function checkDigest(d: string): void {
  const [alg, hex] = d.split(':') as [string, string];
  const want = hexByAlgorithm[alg];
  if (want !== undefined && hex.length !== want) {
    throw errInvalidArgument(`invalid digest ${JSON.stringify(d)}: wrong length for ${alg}`);
  }
  if (want === undefined) throw errInvalidArgument(`unsupported digest algorithm ${alg}`);
}

/** Splits `name` into domain and path the way Docker's familiar names are read. */
function splitDomain(name: string): { domain: string; path: string } {
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  let d: string;
  let p: string;
  // The first component is a host when it looks like one: a dot, a port, or localhost.
  if (
    slash >= 0 &&
    (first.includes('.') ||
      first.includes(':') ||
      first === 'localhost' ||
      first !== first.toLowerCase())
  ) {
    d = first;
    p = name.slice(slash + 1);
  } else {
    d = DEFAULT_DOMAIN;
    p = name;
  }
  if (d === LEGACY_DEFAULT_DOMAIN) d = DEFAULT_DOMAIN;
  if (d === DEFAULT_DOMAIN && !p.includes('/')) p = OFFICIAL_REPO_PREFIX + p;
  return { domain: d, path: p };
}

/**
 * Parses a reference in short or full form and returns it fully qualified:
 * `busybox` → docker.io/library/busybox:latest. A reference with neither tag
 * nor digest gets `latest`.
 */
export function parseReference(input: string): Reference {
  const s = input.trim();
  if (!s) throw errInvalidArgument('reference must not be empty');
  const nameEnd = s.search(/[:@][^/]*$/);
  const rawName = nameEnd < 0 ? s : s.slice(0, nameEnd);
  const { domain: d, path: p } = splitDomain(rawName);
  if (p !== p.toLowerCase()) {
    throw errInvalidArgument(
      `invalid reference ${JSON.stringify(input)}: repository name must be lowercase`,
    );
  }
  const m = referenceRe.exec(`${d}/${p}${s.slice(rawName.length)}`);
  if (!m || !domainRe.test(d)) {
    throw errInvalidArgument(`invalid reference format ${JSON.stringify(input)}`);
  }
  if (m[1]!.length > MAX_NAME_LENGTH) {
    throw errInvalidArgument(
      `invalid reference ${JSON.stringify(input)}: repository name too long`,
    );
  }
  const ref: Reference = { domain: d, path: p };
  if (m[2]) ref.tag = m[2];
  if (m[3]) {
    checkDigest(m[3]);
    ref.digest = m[3];
  }
  if (!ref.tag && !ref.digest) ref.tag = DEFAULT_TAG;
  return ref;
}

/** `domain/path`, the repository without tag or digest. */
export function repositoryName(r: Reference): string {
  return `${r.domain}/${r.path}`;
}

/** The fully qualified string: `domain/path[:tag][@digest]`. */
export function formatReference(r: Reference): string {
  return `${repositoryName(r)}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** What Docker prints: docker.io and library/ dropped (`busybox:latest`). */
export function familiarString(r: Reference): string {
  let name = repositoryName(r);
  if (r.domain === DEFAULT_DOMAIN) {
    name = r.path.startsWith(OFFICIAL_REPO_PREFIX)
      ? r.path.slice(OFFICIAL_REPO_PREFIX.length)
      : r.path;
  }
  return `${name}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** Fully qualifies a reference string (`busybox` → `docker.io/library/busybox:latest`). */
export function normalizeReference(input: string): string {
  return formatReference(parseReference(input));
}

/** What a manifest is asked for by: the digest when pinned, the tag otherwise. */
export function objectOf(r: Reference): string {
  return r.digest ?? r.tag ?? DEFAULT_TAG;
}
