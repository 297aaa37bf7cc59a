import { randomBytes } from 'node:crypto';
import {
  errAlreadyExists,
  errInvalidArgument,
  errNotFound,
  errNotImplemented,
} from '../errors/catalogue.js';
import { validateIdentifier } from '../identifiers.js';
import { validateDigest } from '../content/digest.js';
import { kindPrefix, NAMESPACES_PREFIX, resourceKey } from './keys.js';
import { compactLabels, type Labels, validateLabels } from './labels.js';
import { ensureNamespace, namespaceLock } from './namespaces.js';
import { corrupt, type ReadTx, type TxRunner, type WriteTx } from './transaction.js';

export const LEASES_KIND = 'leases';

/** RFC3339 time after which the lease no longer protects anything. */
export const LEASE_EXPIRE_LABEL = 'containerd.io/gc.expire';
/** Present: the lease protects only what it lists, not what those resources reference. */
export const LEASE_FLAT_LABEL = 'containerd.io/gc.flat';

// Lease ids are chosen by clients: containerd's own client generates
// `<nanoseconds>-<base64url>`, which need not be an identifier (it may end in
// '_' or hold "--"), so ids get a looser rule than identifiers. They must not
// hold '/' so a key segment never splits, nor whitespace or control characters.
export const MAX_LEASE_ID_LENGTH = 255;
const badLeaseIdChar = /[\s\x00-\x1f\x7f/]/;

export interface Lease {
  id: string;
  labels: Labels;
  createdAt: Date;
}

export interface NewLease {
  /** Generated when absent or empty. */
  id?: string;
  labels?: Labels;
}

/** Something a lease keeps alive: `content` (a digest), `ingests` (a ref), `snapshots/<snapshotter>` (a key). */
export interface LeaseResource {
  id: string;
  type: string;
}

/** A lease with what it protects, as the garbage collector sees it. */
export interface LeaseWithResources {
  namespace: string;
  lease: Lease;
  resources: LeaseResource[];
}

/** What content and snapshot services need to record what they create under a lease. */
export interface LeaseManager {
  addResource(namespace: string, leaseId: string, resource: LeaseResource): Promise<void>;
}

export interface LeaseStoreOptions {
  /** Runs a garbage collection; awaited by a delete with `sync`. */
  collect?: () => Promise<void>;
}

interface StoredLease {
  id: string;
  labels: Labels;
  createdAt: string;
}

export function validateLeaseId(id: string): void {
  if (typeof id !== 'string' || id === '') throw errInvalidArgument('lease id must not be empty');
  if (Buffer.byteLength(id) > MAX_LEASE_ID_LENGTH) {
    throw errInvalidArgument(
      `lease id ${JSON.stringify(id.slice(0, 20) + '…')} greater than maximum length (${MAX_LEASE_ID_LENGTH} bytes)`,
    );
  }
  if (badLeaseIdChar.test(id)) {
    throw errInvalidArgument(
      `lease id ${JSON.stringify(id)} must not contain '/', whitespace or control characters`,
    );
  }
  keySegment(id, 'lease id');
}

/** A time-ordered, collision-resistant id that is also a valid identifier. */
export function generateLeaseId(now = new Date()): string {
  return `${now.getTime()}-${randomBytes(5).toString('hex')}`;
}

// Go's time.RFC3339 layout as accepted by time.Parse (fractional seconds allowed).
const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Parses an RFC3339 time; undefined when it is not one. */
export function parseRFC3339(value: string): Date | undefined {
  if (!rfc3339.test(value)) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** Whether the lease's expiry label lies before `now`; a lease without one never expires. */
export function isExpired(lease: Pick<Lease, 'labels'>, now: Date = new Date()): boolean {
  const raw = lease.labels[LEASE_EXPIRE_LABEL];
  if (raw === undefined) return false;
  const at = parseRFC3339(raw);
  return at !== undefined && now.getTime() > at.getTime();
}

export function isFlat(lease: Pick<Lease, 'labels'>): boolean {
  return Object.prototype.hasOwnProperty.call(lease.labels, LEASE_FLAT_LABEL);
}

function validateLeaseLabels(labels: Labels): void {
  validateLabels(labels, 'lease.Labels');
  const expire = labels[LEASE_EXPIRE_LABEL];
  if (expire !== undefined && expire !== '' && parseRFC3339(expire) === undefined) {
    throw errInvalidArgument(
      `lease label ${LEASE_EXPIRE_LABEL}=${JSON.stringify(expire)} is not an RFC3339 time`,
    );
  }
}

/**
 * Checks a resource the way containerd does: content ids are digests, ingests
 * take any ref, snapshots need exactly one snapshotter name; other types are
 * NotImplemented. Returns the resource normalised for storage.
 */
export function validateLeaseResource(resource: LeaseResource): LeaseResource {
  if (resource === null || typeof resource !== 'object')
    throw errInvalidArgument('lease resource must be set');
  const { id, type } = resource;
  if (typeof type !== 'string' || type === '')
    throw errInvalidArgument('lease resource type must be set');
  if (typeof id !== 'string' || id === '')
    throw errInvalidArgument('lease resource id must be set');
  const parts = type.split('/');
  switch (parts[0]) {
    case 'content':
      if (parts.length !== 1) throw errInvalidArgument(`invalid resource type ${type}`);
      try {
        validateDigest(id);
      } catch (err) {
        throw errInvalidArgument(`invalid content resource id ${id}: ${(err as Error).message}`);
      }
      break;
    case 'ingests':
      if (parts.length !== 1) throw errInvalidArgument(`invalid resource type ${type}`);
      break;
    case 'snapshots':
      if (parts.length !== 2 || parts[1] === '')
        throw errInvalidArgument(`invalid snapshot resource type ${type}`);
      break;
    default:
      throw errNotImplemented(`resource type ${type} not supported yet`);
  }
  keySegment(id, 'lease resource id');
  return { id, type };
}

// Lease ids, resource types and resource ids (snapshot keys hold '/' and
// spaces) become key segments; percent-encoding keeps them free of '/' and
// reversible. Records also carry their own values, so keys are never decoded.
function keySegment(value: string, what: string): string {
  try {
    return encodeURIComponent(value);
  } catch (err) {
    throw errInvalidArgument(`${what} ${JSON.stringify(value)} is not valid Unicode`, {
      cause: err,
    });
  }
}

// Layout under v1/ns/<ns>/leases/:
//   <lease>                       {"id", "labels", "createdAt"}
//   <lease>/<type>/<resource id>  {"id", "type"}
function leaseKey(namespace: string, id: string): string {
  return resourceKey(namespace, LEASES_KIND, keySegment(id, 'lease id'));
}

function resourcesPrefix(namespace: string, id: string): string {
  return `${leaseKey(namespace, id)}/`;
}

function leaseResourceKey(namespace: string, id: string, r: LeaseResource): string {
  return `${resourcesPrefix(namespace, id)}${keySegment(r.type, 'lease resource type')}/${keySegment(r.id, 'lease resource id')}`;
}

function decodeLease(key: string, raw: string): Lease {
  let s: StoredLease;
  try {
    s = JSON.parse(raw) as StoredLease;
  } catch (err) {
    throw corrupt(key, 'not valid JSON', err);
  }
  if (s === null || typeof s !== 'object' || typeof s.id !== 'string')
    throw corrupt(key, 'id is not a string');
  if (
    s.labels === null ||
    typeof s.labels !== 'object' ||
    !Object.values(s.labels).every((v) => typeof v === 'string')
  ) {
    throw corrupt(key, 'labels is not a map of strings');
  }
  const createdAt = typeof s.createdAt === 'string' ? new Date(s.createdAt) : new Date(NaN);
  if (Number.isNaN(createdAt.getTime())) throw corrupt(key, 'createdAt is not a timestamp');
  return { id: s.id, labels: { ...s.labels }, createdAt };
}

function decodeResource(key: string, raw: string): LeaseResource {
  let r: LeaseResource;
  try {
    r = JSON.parse(raw) as LeaseResource;
  } catch (err) {
    throw corrupt(key, 'not valid JSON', err);
  }
  if (r === null || typeof r !== 'object' || typeof r.id !== 'string' || typeof r.type !== 'string')
    throw corrupt(key, 'not a lease resource');
  return { id: r.id, type: r.type };
}

/** The leases of one namespace, read inside a transaction. Resource keys are skipped. */
export async function readLeases(tx: ReadTx, namespace: string): Promise<Lease[]> {
  const prefix = kindPrefix(namespace, LEASES_KIND);
  const out: Lease[] = [];
  for await (const [key, raw] of tx.entries(prefix)) {
    if (key.slice(prefix.length).includes('/')) continue;
    out.push(decodeLease(key, raw));
  }
  return out;
}

/**
 * The resources of one lease. Key order already gives containerd's listing
 * order: content, then ingests, then snapshots by snapshotter.
 */
export async function readLeaseResources(
  tx: ReadTx,
  namespace: string,
  id: string,
): Promise<LeaseResource[]> {
  const out: LeaseResource[] = [];
  for await (const [key, raw] of tx.entries(resourcesPrefix(namespace, id))) {
    out.push(decodeResource(key, raw));
  }
  return out;
}

/**
 * Every lease of every namespace with its resources, from one consistent view:
 * what the garbage collector marks from.
 */
export async function readAllLeases(tx: ReadTx): Promise<LeaseWithResources[]> {
  const out: LeaseWithResources[] = [];
  for await (const [nsKey] of tx.entries(NAMESPACES_PREFIX)) {
    const namespace = nsKey.slice(NAMESPACES_PREFIX.length);
    for (const lease of await readLeases(tx, namespace)) {
      out.push({ namespace, lease, resources: await readLeaseResources(tx, namespace, lease.id) });
    }
  }
  return out;
}

/**
 * Records a resource under a lease inside the caller's transaction, so a
 * store can create an object and lease it atomically. The caller must hold
 * namespaceLock(namespace). NotFound when the lease does not exist.
 */
export async function addLeaseResourceTx(
  tx: WriteTx,
  namespace: string,
  leaseId: string,
  resource: LeaseResource,
): Promise<void> {
  validateLeaseId(leaseId);
  const r = validateLeaseResource(resource);
  if (!(await tx.has(leaseKey(namespace, leaseId))))
    throw errNotFound(`lease ${JSON.stringify(leaseId)}`);
  tx.putJSON(leaseResourceKey(namespace, leaseId, r), r);
}

/** Leases, per namespace, in the metadata database. */
export class LeaseStore implements LeaseManager {
  private readonly collectHook?: () => Promise<void>;

  constructor(
    private readonly db: TxRunner,
    options: LeaseStoreOptions = {},
  ) {
    this.collectHook = options.collect;
  }

  /** Create a lease; the namespace is created too if it does not exist yet. */
  async create(namespace: string, lease: NewLease = {}): Promise<Lease> {
    validateIdentifier(namespace);
    const id = lease.id || generateLeaseId();
    validateLeaseId(id);
    const labels = compactLabels(lease.labels);
    validateLeaseLabels(labels);
    const key = leaseKey(namespace, id);
    return this.db.update([namespaceLock(namespace)], async (tx) => {
      if (await tx.has(key)) throw errAlreadyExists(`lease ${JSON.stringify(id)}`);
      await ensureNamespace(tx, namespace);
      const raw = JSON.stringify({
        id,
        labels,
        createdAt: new Date().toISOString(),
      } satisfies StoredLease);
      tx.put(key, raw);
      return decodeLease(key, raw);
    });
  }

  async get(namespace: string, id: string): Promise<Lease> {
    validateIdentifier(namespace);
    validateLeaseId(id);
    const key = leaseKey(namespace, id);
    const raw = await this.db.view((tx) => tx.get(key));
    if (raw === undefined) throw errNotFound(`lease ${JSON.stringify(id)}`);
    return decodeLease(key, raw);
  }

  async list(namespace: string, filter?: (l: Lease) => boolean): Promise<Lease[]> {
    validateIdentifier(namespace);
    const all = await this.db.view((tx) => readLeases(tx, namespace));
    return filter ? all.filter(filter) : all;
  }

  /**
   * Delete a lease and its resource references. With `sync`, wait for a
   * garbage collection so what only the lease held is gone on return.
   */
  async delete(namespace: string, id: string, options: { sync?: boolean } = {}): Promise<void> {
    validateIdentifier(namespace);
    validateLeaseId(id);
    const key = leaseKey(namespace, id);
    await this.db.update([namespaceLock(namespace)], async (tx) => {
      if (!(await tx.has(key))) throw errNotFound(`lease ${JSON.stringify(id)}`);
      for await (const [k] of tx.entries(resourcesPrefix(namespace, id))) tx.del(k);
      tx.del(key);
    });
    if (options.sync) await this.collect();
  }

  /** Add a reference; adding one that is already there is not an error. */
  async addResource(namespace: string, id: string, resource: LeaseResource): Promise<void> {
    validateIdentifier(namespace);
    await this.db.update([namespaceLock(namespace)], (tx) =>
      addLeaseResourceTx(tx, namespace, id, resource),
    );
  }

  /** Remove a reference; removing one that is not there is not an error. */
  async deleteResource(namespace: string, id: string, resource: LeaseResource): Promise<void> {
    validateIdentifier(namespace);
    validateLeaseId(id);
    const r = validateLeaseResource(resource);
    await this.db.update([namespaceLock(namespace)], async (tx) => {
      if (!(await tx.has(leaseKey(namespace, id))))
        throw errNotFound(`lease ${JSON.stringify(id)}`);
      tx.del(leaseResourceKey(namespace, id, r));
    });
  }

  async listResources(namespace: string, id: string): Promise<LeaseResource[]> {
    validateIdentifier(namespace);
    validateLeaseId(id);
    return this.db.view(async (tx) => {
      if (!(await tx.has(leaseKey(namespace, id))))
        throw errNotFound(`lease ${JSON.stringify(id)}`);
      return readLeaseResources(tx, namespace, id);
    });
  }

  /** Every lease in every namespace with its resources (for the garbage collector). */
  async all(): Promise<LeaseWithResources[]> {
    return this.db.view(readAllLeases);
  }

  private async collect(): Promise<void> {
    if (this.collectHook) await this.collectHook();
  }
}
