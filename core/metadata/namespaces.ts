import {
  errAlreadyExists,
  errFailedPrecondition,
  errInvalidArgument,
  errNotFound,
} from '../errors/catalogue.js';
import { validateIdentifier } from '../identifiers.js';
import {
  kindPrefix,
  NAMESPACES_PREFIX,
  namespaceKey,
  namespaceResourcesPrefix,
  prefixEnd,
} from './keys.js';
import { compactLabels, type Labels, validateLabel, validateLabels } from './labels.js';
import { corrupt, type ReadTx, type TxRunner, type WriteTx } from './transaction.js';

export interface Namespace {
  name: string;
  labels: Labels;
}

interface StoredNamespace {
  labels: Labels;
}

/** Lock name serializing every write inside one namespace, including its record. */
export function namespaceLock(name: string): string {
  return `ns/${name}`;
}

function decodeNamespace(name: string, raw: StoredNamespace | undefined): Namespace | undefined {
  if (raw === undefined) return undefined;
  if (
    raw === null ||
    typeof raw !== 'object' ||
    raw.labels === null ||
    typeof raw.labels !== 'object'
  ) {
    throw corrupt(namespaceKey(name), 'labels missing');
  }
  return { name, labels: { ...raw.labels } };
}

async function readNamespace(tx: ReadTx, name: string): Promise<Namespace | undefined> {
  return decodeNamespace(name, await tx.getJSON<StoredNamespace>(namespaceKey(name)));
}

function writeNamespace(tx: WriteTx, ns: Namespace): void {
  tx.putJSON(namespaceKey(ns.name), { labels: compactLabels(ns.labels) } satisfies StoredNamespace);
}

/**
 * Create the namespace record if it is missing. Resource stores call this in
 * their own transaction (holding namespaceLock) because creating a resource
 * in an unknown namespace creates the namespace, as containerd does.
 */
export async function ensureNamespace(tx: WriteTx, name: string): Promise<void> {
  if (!(await tx.has(namespaceKey(name)))) writeNamespace(tx, { name, labels: {} });
}

/**
 * The resource kinds present in a namespace, found by scanning its key range:
 * one seek per kind, so the cost does not grow with the number of resources.
 */
export async function resourceKindsIn(tx: ReadTx, name: string): Promise<string[]> {
  const prefix = namespaceResourcesPrefix(name);
  const kinds: string[] = [];
  let gte = prefix;
  for (;;) {
    let found: string | undefined;
    for await (const [key] of tx.entries(prefix, { gte, limit: 1 })) found = key;
    if (found === undefined) return kinds;
    const kind = found.slice(prefix.length).split('/', 1)[0]!;
    kinds.push(kind);
    gte = prefixEnd(kindPrefix(name, kind));
  }
}

export class NamespaceStore {
  constructor(private readonly db: TxRunner) {}

  async create(name: string, labels: Labels = {}): Promise<Namespace> {
    validateIdentifier(name);
    validateLabels(labels, 'namespace.Labels');
    const ns: Namespace = { name, labels: compactLabels(labels) };
    return this.db.update([namespaceLock(name)], async (tx) => {
      if (await tx.has(namespaceKey(name)))
        throw errAlreadyExists(`namespace ${JSON.stringify(name)}`);
      writeNamespace(tx, ns);
      return { name, labels: { ...ns.labels } };
    });
  }

  async get(name: string): Promise<Namespace> {
    validateIdentifier(name);
    const ns = await this.db.view((tx) => readNamespace(tx, name));
    if (!ns) throw errNotFound(`namespace ${JSON.stringify(name)}`);
    return ns;
  }

  async list(): Promise<Namespace[]> {
    return this.db.view(async (tx) => {
      const out: Namespace[] = [];
      for await (const [key, raw] of tx.entries(NAMESPACES_PREFIX)) {
        let parsed: StoredNamespace;
        try {
          parsed = JSON.parse(raw) as StoredNamespace;
        } catch (err) {
          throw corrupt(key, 'not valid JSON', err);
        }
        out.push(decodeNamespace(key.slice(NAMESPACES_PREFIX.length), parsed)!);
      }
      return out;
    });
  }

  /** Set one label; an empty value removes it. */
  async setLabel(name: string, key: string, value: string): Promise<Namespace> {
    validateIdentifier(name);
    validateLabels({ [key]: value }, 'namespace.Labels');
    return this.mutate(name, (ns) => {
      if (value === '') delete ns.labels[key];
      else ns.labels[key] = value;
    });
  }

  /**
   * Update with a field mask. No paths, or the path "labels", replaces every
   * label; "labels.<key>" sets that key from `labels` (or removes it when
   * absent or empty). Any other path is InvalidArgument.
   */
  async update(
    name: string,
    labels: Labels,
    fieldpaths: readonly string[] = [],
  ): Promise<Namespace> {
    validateIdentifier(name);
    validateLabels(labels, 'namespace.Labels');
    for (const path of fieldpaths) {
      if (path !== 'labels' && !path.startsWith('labels.')) {
        throw errInvalidArgument(`cannot update ${JSON.stringify(path)} field`);
      }
      if (path.startsWith('labels.'))
        validateLabel(path.slice('labels.'.length), labels[path.slice('labels.'.length)] ?? '');
    }
    return this.mutate(name, (ns) => {
      if (fieldpaths.length === 0) {
        ns.labels = compactLabels(labels);
        return;
      }
      for (const path of fieldpaths) {
        if (path === 'labels') {
          ns.labels = compactLabels(labels);
          continue;
        }
        const key = path.slice('labels.'.length);
        const value = labels[key];
        if (value === undefined || value === '') delete ns.labels[key];
        else ns.labels[key] = value;
      }
    });
  }

  /** Delete an empty namespace; FailedPrecondition while it still holds resources. */
  async delete(name: string): Promise<void> {
    validateIdentifier(name);
    await this.db.update([namespaceLock(name)], async (tx) => {
      const kinds = await resourceKindsIn(tx, name);
      if (kinds.length > 0) {
        throw errFailedPrecondition(
          `namespace ${JSON.stringify(name)} must be empty, but it still has ${kinds.join(', ')}`,
        );
      }
      if (!(await tx.has(namespaceKey(name))))
        throw errNotFound(`namespace ${JSON.stringify(name)}`);
      tx.del(namespaceKey(name));
    });
  }

  private async mutate(name: string, change: (ns: Namespace) => void): Promise<Namespace> {
    return this.db.update([namespaceLock(name)], async (tx) => {
      const ns = await readNamespace(tx, name);
      if (!ns) throw errNotFound(`namespace ${JSON.stringify(name)}`);
      change(ns);
      writeNamespace(tx, ns);
      return { name, labels: compactLabels(ns.labels) };
    });
  }
}
