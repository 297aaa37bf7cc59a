import {
  BerthError,
  errAlreadyExists,
  errInvalidArgument,
  errNotFound,
  isBerthError,
} from '../errors/catalogue.js';
import { validateIdentifier } from '../identifiers.js';
import { validateDigest } from '../content/digest.js';
import { kindPrefix, NAMESPACES_PREFIX, resourceKey } from './keys.js';
import { compactLabels, type Labels, validateLabels } from './labels.js';
import { ensureNamespace, namespaceLock } from './namespaces.js';
import { corrupt, type ReadTx, type TxRunner } from './transaction.js';

export const IMAGES_KIND = 'images';

// containerd only requires a non-empty name. Names are references
// ("docker.io/library/busybox:1.36", "…@sha256:…", CRI's bare "sha256:…" ids),
// which never hold whitespace or control characters and stay well under this
// bound (255 for the repository, 128 for a tag, plus a digest).
export const MAX_IMAGE_NAME_LENGTH = 1024;
const badNameChar = /[\s\x00-\x1f\x7f]/;

/** An OCI content descriptor, as containerd stores it for an image target. */
export interface ImageTarget {
  mediaType: string;
  digest: string;
  size: number;
  annotations: Labels;
}

export interface Image {
  name: string;
  labels: Labels;
  target: ImageTarget;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewImage {
  name: string;
  labels?: Labels;
  target: Omit<ImageTarget, 'annotations'> & { annotations?: Labels };
}

export interface ImageStoreOptions {
  /** Runs a garbage collection; awaited by a delete with `sync`. */
  collect?: () => Promise<void>;
}

interface StoredImage {
  name: string;
  labels: Labels;
  target: ImageTarget;
  createdAt: string;
  updatedAt: string;
}

function withContext(prefix: string, err: unknown): unknown {
  if (!isBerthError(err)) return err;
  return new BerthError(err.code, `${prefix}: ${err.message}`, { cause: err });
}

export function validateImageName(name: string): void {
  if (typeof name !== 'string' || name === '')
    throw errInvalidArgument('image name must not be empty');
  if (name.length > MAX_IMAGE_NAME_LENGTH) {
    throw errInvalidArgument(
      `image name ${JSON.stringify(name.slice(0, 40) + '…')} greater than maximum length (${MAX_IMAGE_NAME_LENGTH} characters)`,
    );
  }
  if (badNameChar.test(name)) {
    throw errInvalidArgument(
      `image name ${JSON.stringify(name)} must not contain whitespace or control characters`,
    );
  }
  nameSegment(name);
}

// Names hold '/', ':' and '@'; percent-encoding makes one key segment of them.
// The record carries the name itself, so keys are never decoded.
function nameSegment(name: string): string {
  try {
    return encodeURIComponent(name);
  } catch (err) {
    throw errInvalidArgument(`image name ${JSON.stringify(name)} is not valid Unicode`, {
      cause: err,
    });
  }
}

function imageKey(namespace: string, name: string): string {
  return resourceKey(namespace, IMAGES_KIND, nameSegment(name));
}

function isStringMap(v: unknown): v is Record<string, string> {
  return (
    v !== null &&
    typeof v === 'object' &&
    !Array.isArray(v) &&
    Object.values(v).every((x) => typeof x === 'string')
  );
}

/** containerd's validateImage: name, labels, and the target fields it stores. */
function validateImage(image: NewImage): void {
  validateImageName(image.name);
  validateLabels(image.labels ?? {}, 'image.Labels');
  const t = image.target;
  if (t === null || typeof t !== 'object') throw errInvalidArgument('image.Target must be set');
  try {
    validateDigest(t.digest);
  } catch (err) {
    throw errInvalidArgument(
      `Target.Digest ${JSON.stringify(t.digest ?? '')} invalid: ${(err as Error).message}`,
    );
  }
  if (typeof t.size !== 'number' || !Number.isSafeInteger(t.size) || t.size <= 0) {
    throw errInvalidArgument('Target.Size must be greater than zero');
  }
  if (typeof t.mediaType !== 'string' || t.mediaType === '')
    throw errInvalidArgument('Target.MediaType must be set');
  if (t.annotations !== undefined && !isStringMap(t.annotations))
    throw errInvalidArgument('Target.Annotations must be a map of strings');
}

function encodeImage(image: NewImage, createdAt: Date, updatedAt: Date): StoredImage {
  return {
    name: image.name,
    labels: compactLabels(image.labels),
    target: {
      mediaType: image.target.mediaType,
      digest: image.target.digest,
      size: image.target.size,
      annotations: compactLabels(image.target.annotations),
    },
    createdAt: createdAt.toISOString(),
    updatedAt: updatedAt.toISOString(),
  };
}

function parseDate(key: string, field: string, v: unknown): Date {
  const d = typeof v === 'string' ? new Date(v) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw corrupt(key, `${field} is not a timestamp`);
  return d;
}

/** Parse a stored record fully, so corruption surfaces as DataLoss rather than later. */
function decodeImage(key: string, raw: string): Image {
  let s: StoredImage;
  try {
    s = JSON.parse(raw) as StoredImage;
  } catch (err) {
    throw corrupt(key, 'not valid JSON', err);
  }
  if (s === null || typeof s !== 'object') throw corrupt(key, 'not an object');
  if (typeof s.name !== 'string') throw corrupt(key, 'name is not a string');
  if (!isStringMap(s.labels)) throw corrupt(key, 'labels is not a map of strings');
  const t = s.target;
  if (
    t === null ||
    typeof t !== 'object' ||
    typeof t.mediaType !== 'string' ||
    typeof t.digest !== 'string' ||
    typeof t.size !== 'number' ||
    !isStringMap(t.annotations)
  ) {
    throw corrupt(key, 'target is not a descriptor');
  }
  return {
    name: s.name,
    labels: { ...s.labels },
    target: {
      mediaType: t.mediaType,
      digest: t.digest,
      size: t.size,
      annotations: { ...t.annotations },
    },
    createdAt: parseDate(key, 'createdAt', s.createdAt),
    updatedAt: parseDate(key, 'updatedAt', s.updatedAt),
  };
}

// Byte order of the names, as containerd lists its image buckets.
function byName(a: Image, b: Image): number {
  return Buffer.compare(Buffer.from(a.name), Buffer.from(b.name));
}

/** The images of one namespace, read inside a transaction, in name order. */
export async function readImages(tx: ReadTx, namespace: string): Promise<Image[]> {
  const out: Image[] = [];
  for await (const [key, raw] of tx.entries(kindPrefix(namespace, IMAGES_KIND))) {
    out.push(decodeImage(key, raw));
  }
  return out.sort(byName);
}

/** Every image of every namespace from one consistent view (garbage collection roots). */
export async function readAllImages(tx: ReadTx): Promise<{ namespace: string; image: Image }[]> {
  const out: { namespace: string; image: Image }[] = [];
  for await (const [nsKey] of tx.entries(NAMESPACES_PREFIX)) {
    const namespace = nsKey.slice(NAMESPACES_PREFIX.length);
    for (const image of await readImages(tx, namespace)) out.push({ namespace, image });
  }
  return out;
}

/** Image records, per namespace: a name pointing at a root descriptor. */
export class ImageStore {
  private readonly collectHook?: () => Promise<void>;

  constructor(
    private readonly db: TxRunner,
    options: ImageStoreOptions = {},
  ) {
    this.collectHook = options.collect;
  }

  /** Create an image; the namespace is created too if it does not exist yet. */
  async create(namespace: string, image: NewImage): Promise<Image> {
    validateIdentifier(namespace);
    try {
      validateImage(image);
    } catch (err) {
      throw withContext('create image failed validation', err);
    }
    const key = imageKey(namespace, image.name);
    return this.db.update([namespaceLock(namespace)], async (tx) => {
      if (await tx.has(key)) throw errAlreadyExists(`image ${JSON.stringify(image.name)}`);
      await ensureNamespace(tx, namespace);
      const now = new Date();
      const raw = JSON.stringify(encodeImage(image, now, now));
      tx.put(key, raw);
      return decodeImage(key, raw);
    });
  }

  async get(namespace: string, name: string): Promise<Image> {
    validateIdentifier(namespace);
    validateImageName(name);
    const key = imageKey(namespace, name);
    const raw = await this.db.view((tx) => tx.get(key));
    if (raw === undefined) throw errNotFound(`image ${JSON.stringify(name)}`);
    return decodeImage(key, raw);
  }

  async list(namespace: string, filter?: (i: Image) => boolean): Promise<Image[]> {
    validateIdentifier(namespace);
    const all = await this.db.view((tx) => readImages(tx, namespace));
    return filter ? all.filter(filter) : all;
  }

  /**
   * Update with containerd's field-mask rules: `labels`, `labels.<k>`,
   * `target` (replaced as a whole), `annotations`, `annotations.<k>` (the
   * target's); any other path is InvalidArgument. No paths replaces labels and
   * target. Empty label or annotation values remove the key.
   */
  async update(
    namespace: string,
    image: NewImage,
    fieldpaths: readonly string[] = [],
  ): Promise<Image> {
    validateIdentifier(namespace);
    if (!image || !image.name) throw errInvalidArgument('image name is required for update');
    validateImageName(image.name);
    const key = imageKey(namespace, image.name);
    return this.db.update([namespaceLock(namespace)], async (tx) => {
      const raw = await tx.get(key);
      if (raw === undefined) throw errNotFound(`image ${JSON.stringify(image.name)}`);
      const current = decodeImage(key, raw);
      let next: NewImage;
      if (fieldpaths.length === 0) {
        next = image;
      } else {
        const labels = { ...current.labels };
        let target = { ...current.target, annotations: { ...current.target.annotations } };
        for (const path of fieldpaths) {
          if (path.startsWith('labels.')) {
            const k = path.slice('labels.'.length);
            labels[k] = image.labels?.[k] ?? '';
            continue;
          }
          if (path.startsWith('annotations.')) {
            const k = path.slice('annotations.'.length);
            target.annotations[k] = image.target?.annotations?.[k] ?? '';
            continue;
          }
          switch (path) {
            case 'labels':
              for (const k of Object.keys(labels)) delete labels[k];
              Object.assign(labels, image.labels ?? {});
              break;
            case 'target':
              target = { ...image.target, annotations: { ...image.target?.annotations } };
              break;
            case 'annotations':
              target.annotations = { ...image.target?.annotations };
              break;
            default:
              throw errInvalidArgument(
                `cannot update ${JSON.stringify(path)} field on image ${JSON.stringify(image.name)}`,
              );
          }
        }
        next = { name: current.name, labels, target };
      }
      try {
        validateImage(next);
      } catch (err) {
        throw withContext('update image failed validation', err);
      }
      // Never let the clock make updatedAt precede createdAt.
      const now = new Date(Math.max(Date.now(), current.createdAt.getTime()));
      const updatedRaw = JSON.stringify(encodeImage(next, current.createdAt, now));
      tx.put(key, updatedRaw);
      return decodeImage(key, updatedRaw);
    });
  }

  /**
   * Delete an image record. With `sync`, wait for a garbage collection so the
   * content and snapshots only this image held are gone on return.
   */
  async delete(namespace: string, name: string, options: { sync?: boolean } = {}): Promise<void> {
    validateIdentifier(namespace);
    validateImageName(name);
    const key = imageKey(namespace, name);
    await this.db.update([namespaceLock(namespace)], async (tx) => {
      if (!(await tx.has(key))) throw errNotFound(`image ${JSON.stringify(name)}`);
      tx.del(key);
    });
    if (options.sync && this.collectHook) await this.collectHook();
  }
}
