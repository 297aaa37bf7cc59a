import {
  BerthError,
  errAlreadyExists,
  errInvalidArgument,
  errNotFound,
  isBerthError,
} from '../errors/catalogue.js';
import { validateIdentifier } from '../identifiers.js';
import { type AnyValue, decodeAny, encodeAny, isAnyValue, type StoredAny } from './any.js';
import { kindPrefix, resourceKey } from './keys.js';
import { compactLabels, type Labels, validateLabels } from './labels.js';
import { ensureNamespace, namespaceLock } from './namespaces.js';
import { corrupt, type TxRunner, type WriteTx } from './transaction.js';

export const CONTAINERS_KIND = 'containers';

export interface ContainerRuntime {
  name: string;
  options?: AnyValue;
}

export interface Container {
  id: string;
  labels: Labels;
  image: string;
  runtime: ContainerRuntime;
  spec?: AnyValue;
  snapshotter: string;
  snapshotKey: string;
  extensions: Record<string, AnyValue>;
  sandboxId?: string;
  createdAt: Date;
  updatedAt: Date;
}

/** What a caller supplies to create a container; timestamps are assigned by the store. */
export type NewContainer = Pick<Container, 'id' | 'runtime'> &
  Partial<Omit<Container, 'id' | 'runtime' | 'createdAt' | 'updatedAt'>>;

/**
 * The incoming side of an update: the fields named by the field paths are
 * taken from here. With no field paths it is a full replacement of the mutable
 * fields, so it must carry the existing runtime name and snapshotter.
 */
export type ContainerUpdate = Pick<Container, 'id'> &
  Partial<Omit<Container, 'id' | 'createdAt' | 'updatedAt'>>;

interface StoredContainer {
  id: string;
  labels: Labels;
  image: string;
  runtime: { name: string; options?: StoredAny };
  spec?: StoredAny;
  snapshotter: string;
  snapshotKey: string;
  extensions: Record<string, StoredAny>;
  sandboxId?: string;
  createdAt: string;
  updatedAt: string;
}

// Field paths that may be named in an update (besides labels.<k> and extensions.<k>),
// and the set a field-mask-less update replaces. runtime and snapshotter are immutable.
const MUTABLE_FIELDS = ['labels', 'spec', 'extensions', 'image', 'snapshotkey'] as const;

function containerKey(namespace: string, id: string): string {
  return resourceKey(namespace, CONTAINERS_KIND, id);
}

function withContext(prefix: string, err: unknown): unknown {
  if (!isBerthError(err)) return err;
  return new BerthError(err.code, `${prefix}: ${err.message}`, { cause: err });
}

/** containerd's validateContainer rules. */
function validateContainer(c: NewContainer): void {
  try {
    validateIdentifier(c.id);
  } catch (err) {
    throw withContext('container.ID', err);
  }
  for (const [key, ext] of Object.entries(c.extensions ?? {})) {
    if (key === '') throw errInvalidArgument('container.Extension keys must not be zero-length');
    if (!isAnyValue(ext))
      throw errInvalidArgument(`container.Extensions[${JSON.stringify(key)}] must be an Any`);
  }
  validateLabels(c.labels ?? {}, 'containers.Labels');
  if (!c.runtime || typeof c.runtime.name !== 'string' || c.runtime.name === '') {
    throw errInvalidArgument('container.Runtime.Name must be set');
  }
  if (c.runtime.options !== undefined && !isAnyValue(c.runtime.options)) {
    throw errInvalidArgument('container.Runtime.Options must be an Any');
  }
  if (c.spec === undefined) throw errInvalidArgument('container.Spec must be set');
  if (!isAnyValue(c.spec)) throw errInvalidArgument('container.Spec must be an Any');
  if (c.snapshotKey && !c.snapshotter) {
    throw errInvalidArgument('container.Snapshotter must be set if container.SnapshotKey is set');
  }
}

function encodeContainer(c: NewContainer, createdAt: Date, updatedAt: Date): StoredContainer {
  const extensions: Record<string, StoredAny> = {};
  for (const [key, ext] of Object.entries(c.extensions ?? {})) extensions[key] = encodeAny(ext);
  const stored: StoredContainer = {
    id: c.id,
    labels: compactLabels(c.labels),
    image: c.image ?? '',
    runtime: { name: c.runtime.name },
    snapshotter: c.snapshotter ?? '',
    snapshotKey: c.snapshotKey ?? '',
    extensions,
    createdAt: createdAt.toISOString(),
    updatedAt: updatedAt.toISOString(),
  };
  if (c.runtime.options) stored.runtime.options = encodeAny(c.runtime.options);
  if (c.spec) stored.spec = encodeAny(c.spec);
  if (c.sandboxId) stored.sandboxId = c.sandboxId;
  return stored;
}

function parseDate(key: string, field: string, v: unknown): Date {
  const d = typeof v === 'string' ? new Date(v) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw corrupt(key, `${field} is not a timestamp`);
  return d;
}

function isStringMap(v: unknown): v is Record<string, string> {
  return (
    v !== null && typeof v === 'object' && Object.values(v).every((x) => typeof x === 'string')
  );
}

/** Parse a stored record fully, so corruption surfaces as DataLoss rather than later. */
function decodeContainer(key: string, raw: string): Container {
  let s: StoredContainer;
  try {
    s = JSON.parse(raw) as StoredContainer;
  } catch (err) {
    throw corrupt(key, 'not valid JSON', err);
  }
  if (s === null || typeof s !== 'object') throw corrupt(key, 'not an object');
  for (const field of ['id', 'image', 'snapshotter', 'snapshotKey'] as const) {
    if (typeof s[field] !== 'string') throw corrupt(key, `${field} is not a string`);
  }
  if (!isStringMap(s.labels)) throw corrupt(key, 'labels is not a map of strings');
  if (s.runtime === null || typeof s.runtime !== 'object' || typeof s.runtime.name !== 'string') {
    throw corrupt(key, 'runtime is missing its name');
  }
  if (s.extensions === null || typeof s.extensions !== 'object')
    throw corrupt(key, 'extensions is not a map');
  if (s.sandboxId !== undefined && typeof s.sandboxId !== 'string')
    throw corrupt(key, 'sandboxId is not a string');

  const extensions: Record<string, AnyValue> = {};
  for (const [name, ext] of Object.entries(s.extensions))
    extensions[name] = decodeAny(ext, key, `extensions.${name}`);
  const c: Container = {
    id: s.id,
    labels: { ...s.labels },
    image: s.image,
    runtime: { name: s.runtime.name },
    snapshotter: s.snapshotter,
    snapshotKey: s.snapshotKey,
    extensions,
    createdAt: parseDate(key, 'createdAt', s.createdAt),
    updatedAt: parseDate(key, 'updatedAt', s.updatedAt),
  };
  if (s.runtime.options !== undefined)
    c.runtime.options = decodeAny(s.runtime.options, key, 'runtime.options');
  if (s.spec !== undefined) c.spec = decodeAny(s.spec, key, 'spec');
  if (s.sandboxId !== undefined) c.sandboxId = s.sandboxId;
  return c;
}

/** Containers, per namespace. */
export class ContainerStore {
  constructor(private readonly db: TxRunner) {}

  /** Create a container; the namespace is created too if it does not exist yet. */
  async create(namespace: string, container: NewContainer): Promise<Container> {
    validateIdentifier(namespace);
    try {
      validateContainer(container);
    } catch (err) {
      throw withContext('create container failed validation', err);
    }
    const key = containerKey(namespace, container.id);
    return this.db.update([namespaceLock(namespace)], async (tx) => {
      if (await tx.has(key)) throw errAlreadyExists(`container ${JSON.stringify(container.id)}`);
      await ensureNamespace(tx, namespace);
      const now = new Date();
      const raw = JSON.stringify(encodeContainer(container, now, now));
      tx.put(key, raw);
      return decodeContainer(key, raw);
    });
  }

  async get(namespace: string, id: string): Promise<Container> {
    validateIdentifier(namespace);
    validateIdentifier(id);
    const key = containerKey(namespace, id);
    const raw = await this.db.view((tx) => tx.get(key));
    if (raw === undefined) {
      throw errNotFound(
        `container ${JSON.stringify(id)} in namespace ${JSON.stringify(namespace)}`,
      );
    }
    return decodeContainer(key, raw);
  }

  async list(namespace: string, filter?: (c: Container) => boolean): Promise<Container[]> {
    validateIdentifier(namespace);
    return this.db.view(async (tx) => {
      const out: Container[] = [];
      for await (const [key, raw] of tx.entries(kindPrefix(namespace, CONTAINERS_KIND))) {
        const c = decodeContainer(key, raw);
        if (!filter || filter(c)) out.push(c);
      }
      return out;
    });
  }

  /**
   * Update with containerd's field-mask rules: paths `labels`, `labels.<k>`,
   * `spec`, `extensions`, `extensions.<k>`, `image`, `snapshotkey`; any other
   * path (runtime, snapshotter, ...) is InvalidArgument. No paths means every
   * mutable field, and then a changed runtime name or snapshotter is rejected
   * rather than silently ignored.
   */
  async update(
    namespace: string,
    container: ContainerUpdate,
    fieldpaths: readonly string[] = [],
  ): Promise<Container> {
    validateIdentifier(namespace);
    if (!container.id) throw errInvalidArgument('must specify a container id');
    validateIdentifier(container.id);
    const key = containerKey(namespace, container.id);
    return this.db.update([namespaceLock(namespace)], async (tx) => {
      const raw = await tx.get(key);
      if (raw === undefined) throw errNotFound(`container ${JSON.stringify(container.id)}`);
      const current = decodeContainer(key, raw);
      const next: Container = {
        ...current,
        labels: { ...current.labels },
        extensions: { ...current.extensions },
      };

      let paths = fieldpaths;
      if (paths.length === 0) {
        paths = MUTABLE_FIELDS;
        if ((container.snapshotter ?? '') !== current.snapshotter) {
          throw errInvalidArgument('container.Snapshotter field is immutable');
        }
        if ((container.runtime?.name ?? '') !== current.runtime.name) {
          throw errInvalidArgument('container.Runtime.Name field is immutable');
        }
      }

      for (const path of paths) {
        if (path.startsWith('labels.')) {
          const label = path.slice('labels.'.length);
          const value = container.labels?.[label];
          if (value === undefined || value === '') delete next.labels[label];
          else next.labels[label] = value;
          continue;
        }
        if (path.startsWith('extensions.')) {
          const name = path.slice('extensions.'.length);
          const ext = container.extensions?.[name];
          if (ext === undefined) delete next.extensions[name];
          else next.extensions[name] = ext;
          continue;
        }
        switch (path) {
          case 'labels':
            next.labels = { ...container.labels };
            break;
          case 'spec':
            if (container.spec === undefined) delete next.spec;
            else next.spec = container.spec;
            break;
          case 'extensions':
            next.extensions = { ...container.extensions };
            break;
          case 'image':
            next.image = container.image ?? '';
            break;
          case 'snapshotkey':
            next.snapshotKey = container.snapshotKey ?? '';
            break;
          default:
            throw errInvalidArgument(
              `cannot update ${JSON.stringify(path)} field on ${JSON.stringify(container.id)}`,
            );
        }
      }

      try {
        validateContainer(next);
      } catch (err) {
        throw withContext('update failed validation', err);
      }
      // Never let the clock make updatedAt precede createdAt.
      const now = new Date(Math.max(Date.now(), current.createdAt.getTime()));
      const updatedRaw = JSON.stringify(encodeContainer(next, current.createdAt, now));
      tx.put(key, updatedRaw);
      return decodeContainer(key, updatedRaw);
    });
  }

  async delete(namespace: string, id: string): Promise<void> {
    await this.db.update([namespaceLock(namespace)], async (tx) => {
      if (!(await this.deleteIn(tx, namespace, id)))
        throw errNotFound(
          `container ${JSON.stringify(id)} in namespace ${JSON.stringify(namespace)}`,
        );
    });
  }

  /**
   * Deletes the record inside `tx`, a transaction the caller runs holding the
   * namespace's lock, so it commits with the caller's other writes. False
   * when there is no such record.
   */
  async deleteIn(tx: WriteTx, namespace: string, id: string): Promise<boolean> {
    validateIdentifier(namespace);
    validateIdentifier(id);
    const key = containerKey(namespace, id);
    if (!(await tx.has(key))) return false;
    tx.del(key);
    return true;
  }
}
