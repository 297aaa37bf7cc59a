// OCI image documents (descriptor, index, manifest, config) with strict
// parsing. Everything here arrives from archives, registries or other
// clients, so every field that is used is type-checked, digests are validated
// before they become content keys, and a document that declares itself one
// kind but has the shape of another is refused (manifest/index confusion).

import { errInvalidArgument } from '../../errors/catalogue.js';
import { parseDigest } from '../../content/digest.js';
import { isConfigType, isIndexType, isManifestType, MediaType } from './media-types.js';

/** Manifests and indexes larger than this are refused before parsing. */
export const MAX_MANIFEST_BYTES = 4 << 20;
/** Image configs larger than this are refused before parsing. */
export const MAX_CONFIG_BYTES = 8 << 20;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: Platform;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** The runtime part of an image config (image-spec config.md, `config`). */
export interface ImageRuntimeConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ExposedPorts?: Record<string, unknown>;
  Volumes?: Record<string, unknown>;
}

export interface ImageConfigFile {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  config?: ImageRuntimeConfig;
  rootfs: { type: string; diff_ids: string[] };
  history?: unknown[];
}

type Json = Record<string, unknown>;

function fail(what: string, msg: string): never {
  throw errInvalidArgument(`${what}: ${msg}`);
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function optString(o: Json, key: string, what: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(what, `${key} must be a string`);
  return v;
}

function optStringArray(o: Json, key: string, what: string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    fail(what, `${key} must be an array of strings`);
  return [...(v as string[])];
}

function optStringMap(o: Json, key: string, what: string): Record<string, string> | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!isObject(v) || !Object.values(v).every((x) => typeof x === 'string'))
    fail(what, `${key} must be a map of strings`);
  return { ...(v as Record<string, string>) };
}

/** Parses JSON text of a document, with a size bound checked first. */
export function parseJsonDocument(data: Uint8Array | string, what: string, max: number): Json {
  const len = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  if (len > max) fail(what, `${len} bytes exceeds the limit of ${max}`);
  let v: unknown;
  try {
    v = JSON.parse(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'));
  } catch (err) {
    fail(what, `not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(v)) fail(what, 'not a JSON object');
  return v;
}

export function parsePlatform(v: unknown, what = 'platform'): Platform {
  if (!isObject(v)) fail(what, 'must be an object');
  const architecture = optString(v, 'architecture', what);
  const os = optString(v, 'os', what);
  if (!architecture || !os) fail(what, 'architecture and os must be set');
  const p: Platform = { architecture, os };
  const variant = optString(v, 'variant', what);
  if (variant) p.variant = variant;
  const osVersion = optString(v, 'os.version', what);
  if (osVersion) p['os.version'] = osVersion;
  const features = optStringArray(v, 'os.features', what);
  if (features) p['os.features'] = features;
  return p;
}

/** A descriptor with a valid digest, a non-negative size and a media type. */
export function parseDescriptor(v: unknown, what = 'descriptor'): Descriptor {
  if (!isObject(v)) fail(what, 'must be an object');
  const mediaType = optString(v, 'mediaType', what);
  if (!mediaType) fail(what, 'mediaType must be set');
  const digest = optString(v, 'digest', what) ?? '';
  try {
    parseDigest(digest);
  } catch (err) {
    fail(what, (err as Error).message);
  }
  const size = v.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    fail(what, 'size must be a non-negative integer');
  const d: Descriptor = { mediaType, digest, size };
  const annotations = optStringMap(v, 'annotations', what);
  if (annotations) d.annotations = annotations;
  const urls = optStringArray(v, 'urls', what);
  if (urls) d.urls = urls;
  if (v.platform !== undefined && v.platform !== null)
    d.platform = parsePlatform(v.platform, `${what} platform`);
  return d;
}

function checkSchemaVersion(o: Json, what: string): void {
  if (o.schemaVersion !== 2)
    fail(what, `unsupported schemaVersion ${JSON.stringify(o.schemaVersion)}`);
}

/**
 * Checks the document's own mediaType field against the descriptor that
 * pointed at it: when both are given they must agree.
 */
function checkDeclaredType(
  o: Json,
  what: string,
  expected: string | undefined,
  ok: (mt: string) => boolean,
): string | undefined {
  const declared = optString(o, 'mediaType', what);
  if (declared !== undefined && !ok(declared)) fail(what, `unexpected mediaType ${declared}`);
  if (declared !== undefined && expected !== undefined && declared !== expected)
    fail(what, `mediaType ${declared} does not match descriptor mediaType ${expected}`);
  return declared;
}

export function parseIndex(data: Uint8Array | string, expectedMediaType?: string): Index {
  const what = 'image index';
  const o = parseJsonDocument(data, what, MAX_MANIFEST_BYTES);
  checkSchemaVersion(o, what);
  const mediaType = checkDeclaredType(o, what, expectedMediaType, isIndexType);
  if ('config' in o || 'layers' in o) fail(what, 'has manifest fields (config, layers)');
  if (!Array.isArray(o.manifests)) fail(what, 'manifests must be an array');
  const manifests = o.manifests.map((m, i) => parseDescriptor(m, `${what} manifests[${i}]`));
  const idx: Index = { schemaVersion: 2, manifests };
  if (mediaType) idx.mediaType = mediaType;
  const annotations = optStringMap(o, 'annotations', what);
  if (annotations) idx.annotations = annotations;
  return idx;
}

export function parseManifest(data: Uint8Array | string, expectedMediaType?: string): Manifest {
  const what = 'image manifest';
  const o = parseJsonDocument(data, what, MAX_MANIFEST_BYTES);
  checkSchemaVersion(o, what);
  const mediaType = checkDeclaredType(o, what, expectedMediaType, isManifestType);
  if ('manifests' in o) fail(what, 'has index fields (manifests)');
  const config = parseDescriptor(o.config, `${what} config`);
  if (!Array.isArray(o.layers)) fail(what, 'layers must be an array');
  const layers = o.layers.map((l, i) => parseDescriptor(l, `${what} layers[${i}]`));
  const m: Manifest = { schemaVersion: 2, config, layers };
  if (mediaType) m.mediaType = mediaType;
  const annotations = optStringMap(o, 'annotations', what);
  if (annotations) m.annotations = annotations;
  return m;
}

export function parseImageConfig(data: Uint8Array | string): ImageConfigFile {
  const what = 'image config';
  const o = parseJsonDocument(data, what, MAX_CONFIG_BYTES);
  const architecture = optString(o, 'architecture', what) ?? '';
  const os = optString(o, 'os', what) ?? '';
  if (!isObject(o.rootfs)) fail(what, 'rootfs must be an object');
  const rootfsType = optString(o.rootfs, 'type', what);
  if (rootfsType !== 'layers')
    fail(what, `rootfs type ${JSON.stringify(rootfsType)} is not "layers"`);
  const diffIds = optStringArray(o.rootfs, 'diff_ids', what) ?? [];
  for (const d of diffIds) {
    try {
      parseDigest(d);
    } catch (err) {
      fail(what, `rootfs.diff_ids: ${(err as Error).message}`);
    }
  }
  const cfg: ImageConfigFile = { architecture, os, rootfs: { type: 'layers', diff_ids: diffIds } };
  const variant = optString(o, 'variant', what);
  if (variant) cfg.variant = variant;
  const created = optString(o, 'created', what);
  if (created) cfg.created = created;
  if (Array.isArray(o.history)) cfg.history = o.history;
  if (o.config !== undefined && o.config !== null) {
    if (!isObject(o.config)) fail(what, 'config must be an object');
    const c = o.config;
    const w = `${what} config`;
    const rc: ImageRuntimeConfig = {};
    const user = optString(c, 'User', w);
    if (user !== undefined) rc.User = user;
    const env = optStringArray(c, 'Env', w);
    if (env) rc.Env = env;
    const entrypoint = optStringArray(c, 'Entrypoint', w);
    if (entrypoint) rc.Entrypoint = entrypoint;
    const cmd = optStringArray(c, 'Cmd', w);
    if (cmd) rc.Cmd = cmd;
    const wd = optString(c, 'WorkingDir', w);
    if (wd !== undefined) rc.WorkingDir = wd;
    const labels = optStringMap(c, 'Labels', w);
    if (labels) rc.Labels = labels;
    const stop = optString(c, 'StopSignal', w);
    if (stop !== undefined) rc.StopSignal = stop;
    if (isObject(c.ExposedPorts)) rc.ExposedPorts = c.ExposedPorts;
    if (isObject(c.Volumes)) rc.Volumes = c.Volumes;
    cfg.config = rc;
  }
  return cfg;
}

/** Which kind of document a descriptor points at, by media type. */
export function documentKind(
  d: Pick<Descriptor, 'mediaType'>,
): 'index' | 'manifest' | 'config' | 'other' {
  if (isIndexType(d.mediaType)) return 'index';
  if (isManifestType(d.mediaType)) return 'manifest';
  if (isConfigType(d.mediaType)) return 'config';
  return 'other';
}

/** A descriptor as stored in an image record (no platform, no urls). */
export function targetOf(d: Descriptor): {
  mediaType: string;
  digest: string;
  size: number;
  annotations: Record<string, string>;
} {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    annotations: { ...(d.annotations ?? {}) },
  };
}

export { MediaType };
