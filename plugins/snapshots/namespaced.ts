// The namespaced snapshotter: what the snapshots service, the image unpacker
// and the CRI use. Each namespace sees only its own keys; records live in the
// metadata DB (store.ts) and the backend snapshotter holds the directories
// under backend keys `<ns>/<seq>/<key>`. Backend calls run inside the metadata
// transaction, so a failing backend leaves no record behind.

import type { Logger } from 'pino';
import {
  SnapshotCommit,
  SnapshotPrepare,
  SnapshotRemove,
} from '../../api/gen/containerd/events/snapshot.js';
import {
  errFailedPrecondition,
  errInvalidArgument,
  errNotFound,
  isNotFound,
} from '../../core/errors/catalogue.js';
import { validateIdentifier } from '../../core/identifiers.js';
import { packAny } from '../../core/protobuf/typeurl.js';
import { traceStep } from '../../core/tracing/active-span.js';
import {
  type Info,
  Kind,
  kindName,
  type Mount,
  type Snapshotter,
  type Usage,
} from '../../core/snapshots/types.js';
import type { Publisher } from '../daemon/publisher.js';
import type { SnapshotLeaseHook } from '../../core/metadata/lease-hooks.js';

export type { SnapshotLeaseHook };
import { lookupLabel, parseFilters } from '../../core/filters/index.js';
import { compactLabels, type Labels, validateLabels } from '../../core/metadata/labels.js';
import { ensureNamespace, namespaceLock } from '../../core/metadata/namespaces.js';
import type { TxRunner, WriteTx } from '../../core/metadata/transaction.js';
import {
  backendKey,
  RefTx,
  RefWriteTx,
  type SnapshotRef,
  seqLock,
  validateClientKey,
} from '../../core/metadata/snapshots.js';

/** Labels with this prefix are passed on to the backend snapshotter, as in containerd. */
export const INHERITED_LABEL_PREFIX = 'containerd.io/snapshot/';

export interface RemoveOptions {
  /**
   * More writes for the removal's metadata transaction, which holds the
   * namespace's lock: they commit with the removal in one synced batch, or
   * neither does.
   */
  alongside?: (tx: WriteTx) => Promise<unknown>;
  /**
   * Resolve once the record is gone, and remove the backend snapshot in the
   * background. One that a crash leaves behind has no record: the garbage
   * collector removes it.
   */
  deferBackend?: boolean;
}

export interface CreateOptions {
  labels?: Labels;
  /** Lease the new snapshot is taken under (the `containerd-lease` header). */
  lease?: string;
}

function inherited(labels: Labels | undefined): Labels {
  const out: Labels = {};
  for (const [k, v] of Object.entries(labels ?? {}))
    if (k.startsWith(INHERITED_LABEL_PREFIX) && v !== '') out[k] = v;
  return out;
}

function toInfo(key: string, r: SnapshotRef): Info {
  return {
    name: key,
    parent: r.parent,
    kind: r.kind,
    labels: { ...r.labels },
    created: new Date(r.createdAt),
    updated: new Date(r.updatedAt),
  };
}

/** Field lookup for containerd's snapshot filters: kind, name, parent, labels.*. */
function adaptor(info: Info) {
  return (fp: string[]) => {
    const [head, ...rest] = fp;
    switch (head) {
      case 'kind':
        return { value: kindName(info.kind), present: true };
      case 'name':
        return { value: info.name, present: info.name !== '' };
      case 'parent':
        return { value: info.parent, present: info.parent !== '' };
      case 'labels':
        return lookupLabel(info.labels, rest);
      default:
        return { value: '', present: false };
    }
  };
}

/** Every snapshotter the daemon loaded, seen through namespaces. */
export class SnapshotService {
  private readonly views = new Map<string, NamespacedSnapshotter>();
  private leaseHook: SnapshotLeaseHook | undefined;

  constructor(
    private readonly db: TxRunner,
    readonly backends: ReadonlyMap<string, Snapshotter>,
    private readonly events: Publisher,
    private readonly log?: Pick<Logger, 'warn'>,
  ) {}

  /** Names of the loaded snapshotters. */
  names(): string[] {
    return [...this.backends.keys()].sort();
  }

  /** InvalidArgument for an empty name, NotFound for one that is not loaded. */
  snapshotter(name: string): NamespacedSnapshotter {
    if (!name) throw errInvalidArgument('snapshotter argument missing');
    let v = this.views.get(name);
    if (!v) {
      const backend = this.backends.get(name);
      if (!backend) throw errNotFound(`snapshotter not loaded: ${name}`);
      v = new NamespacedSnapshotter(
        name,
        backend,
        this.db,
        this.events,
        () => this.leaseHook,
        this.log,
      );
      this.views.set(name, v);
    }
    return v;
  }

  /** Installs the hook leases use to reference new snapshots. */
  setLeaseHook(hook: SnapshotLeaseHook | undefined): void {
    this.leaseHook = hook;
  }

  /** Waits for the backend removals still running (before the backends close). */
  async close(): Promise<void> {
    await Promise.all([...this.views.values()].map((v) => v.backendRemovals()));
  }
}

export class NamespacedSnapshotter {
  /** Backend removals, one after another: a child's always goes before its parent's. */
  private removals: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly backend: Snapshotter,
    private readonly db: TxRunner,
    private readonly events: Publisher,
    private readonly leaseHook: () => SnapshotLeaseHook | undefined,
    private readonly log?: Pick<Logger, 'warn'>,
  ) {}

  private refs(namespace: string) {
    validateIdentifier(namespace);
    return {
      read: <T>(fn: (r: RefTx) => Promise<T>) =>
        this.db.view((tx) => fn(new RefTx(tx, namespace, this.name))),
      write: <T>(fn: (r: RefWriteTx) => Promise<T>, locks: string[] = []) =>
        this.db.update([namespaceLock(namespace), ...locks], (tx) =>
          fn(new RefWriteTx(tx, namespace, this.name)),
        ),
    };
  }

  prepare(
    namespace: string,
    key: string,
    parent: string,
    opts: CreateOptions = {},
  ): Promise<Mount[]> {
    return traceStep('snapshot prepare', () =>
      this.create(Kind.Active, namespace, key, parent, opts),
    );
  }

  view(namespace: string, key: string, parent: string, opts: CreateOptions = {}): Promise<Mount[]> {
    return this.create(Kind.View, namespace, key, parent, opts);
  }

  private async create(
    kind: Kind,
    namespace: string,
    key: string,
    parent: string,
    opts: CreateOptions,
  ): Promise<Mount[]> {
    validateClientKey(key);
    const labels = compactLabels(opts.labels);
    validateLabels(labels, 'snapshot labels');
    let created: string | undefined;
    let mounts: Mount[];
    try {
      mounts = await this.refs(namespace).write(
        async (r) => {
          await r.assertAbsent(key);
          let bparent = '';
          if (parent !== '') {
            const p = await r.get(parent);
            if (!p) throw errNotFound(`parent snapshot ${JSON.stringify(parent)} does not exist`);
            if (p.kind !== Kind.Committed)
              throw errInvalidArgument(
                `parent ${JSON.stringify(parent)} is not committed snapshot`,
              );
            bparent = p.backendKey;
            await r.addChild(parent, key);
          }
          await ensureNamespace(r.tx, namespace);
          const bkey = backendKey(namespace, await r.nextSeq(), key);
          const now = new Date().toISOString();
          r.put(key, {
            backendKey: bkey,
            parent,
            kind,
            labels,
            children: [],
            createdAt: now,
            updatedAt: now,
          });
          if (opts.lease)
            await this.leaseHook()?.(namespace, opts.lease, key, {
              snapshotter: this.name,
              tx: r.tx,
            });
          const backendOpts = { labels: inherited(labels) };
          const m =
            kind === Kind.Active
              ? await this.backend.prepare(bkey, bparent, backendOpts)
              : await this.backend.view(bkey, bparent, backendOpts);
          created = bkey;
          return m;
        },
        [seqLock(this.name)],
      );
    } catch (err) {
      // The record did not commit: take back what the backend made.
      if (created) await this.backendRemove(created);
      throw err;
    }
    if (kind === Kind.Active) {
      this.events.publish(
        namespace,
        '/snapshot/prepare',
        packAny('containerd.events.SnapshotPrepare', SnapshotPrepare, { key, parent }),
      );
    }
    return mounts;
  }

  async mounts(namespace: string, key: string): Promise<Mount[]> {
    const ref = await this.refs(namespace).read((r) => r.mustGet(key));
    return this.backend.mounts(ref.backendKey);
  }

  async commit(
    namespace: string,
    name: string,
    key: string,
    opts: CreateOptions = {},
  ): Promise<void> {
    validateClientKey(name, 'snapshot name');
    validateClientKey(key);
    const labels = compactLabels(opts.labels);
    validateLabels(labels, 'snapshot labels');
    await this.refs(namespace).write(
      async (r) => {
        await r.assertAbsent(name);
        const ref = await r.mustGet(key);
        if (ref.kind !== Kind.Active)
          throw errFailedPrecondition(`snapshot ${JSON.stringify(key)} is not active`);
        const bname = backendKey(namespace, await r.nextSeq(), name);
        const now = new Date().toISOString();
        r.del(key);
        r.put(name, {
          backendKey: bname,
          parent: ref.parent,
          kind: Kind.Committed,
          labels,
          children: [],
          createdAt: now,
          updatedAt: now,
        });
        if (ref.parent !== '') {
          await r.removeChild(ref.parent, key);
          await r.addChild(ref.parent, name);
        }
        if (opts.lease)
          await this.leaseHook()?.(namespace, opts.lease, name, {
            snapshotter: this.name,
            tx: r.tx,
          });
        await this.backend.commit(bname, ref.backendKey, { labels: inherited(labels) });
      },
      [seqLock(this.name)],
    );
    this.events.publish(
      namespace,
      '/snapshot/commit',
      packAny('containerd.events.SnapshotCommit', SnapshotCommit, { key, name }),
    );
  }

  remove(namespace: string, key: string, opts: RemoveOptions = {}): Promise<void> {
    return traceStep('snapshot remove', () => this.removeSnapshot(namespace, key, opts));
  }

  private async removeSnapshot(namespace: string, key: string, opts: RemoveOptions): Promise<void> {
    const ref = await this.refs(namespace).write(async (r) => {
      const ref = await r.mustGet(key);
      if (ref.children.length > 0)
        throw errFailedPrecondition(`cannot remove snapshot ${JSON.stringify(key)} with child`);
      r.del(key);
      if (ref.parent !== '') await r.removeChild(ref.parent, key);
      await opts.alongside?.(r.tx);
      return ref;
    });
    const removal = (this.removals = this.removals.then(() => this.backendRemove(ref.backendKey)));
    if (!opts.deferBackend) await removal;
    this.events.publish(
      namespace,
      '/snapshot/remove',
      packAny('containerd.events.SnapshotRemove', SnapshotRemove, { key }),
    );
  }

  /** Resolves once the backend removals started so far are done. */
  backendRemovals(): Promise<void> {
    return this.removals;
  }

  /** Removing the backend snapshot after its record is gone; a failure leaves an orphan, not an error. */
  private async backendRemove(bkey: string): Promise<void> {
    try {
      await this.backend.remove(bkey);
    } catch (err) {
      // The collector may have taken it first, as an orphan.
      if (isNotFound(err)) return;
      this.log?.warn(
        { err, snapshotter: this.name, key: bkey },
        'removing backend snapshot failed',
      );
    }
  }

  async stat(namespace: string, key: string): Promise<Info> {
    return toInfo(key, await this.refs(namespace).read((r) => r.mustGet(key)));
  }

  /** Labels only: `labels`, `labels.<k>`, or no paths (replace every label). */
  async update(
    namespace: string,
    info: Pick<Info, 'name'> & Partial<Info>,
    fieldpaths: readonly string[] = [],
  ): Promise<Info> {
    if (!info.name) throw errInvalidArgument('snapshot name must not be empty');
    const incoming = info.labels ?? {};
    for (const path of fieldpaths) {
      if (path !== 'labels' && !path.startsWith('labels.'))
        throw errInvalidArgument(
          `cannot update ${JSON.stringify(path)} field on snapshot ${JSON.stringify(info.name)}`,
        );
    }
    return this.refs(namespace).write(async (r) => {
      const ref = await r.mustGet(info.name);
      let labels = { ...ref.labels };
      if (fieldpaths.length === 0) labels = compactLabels(incoming);
      for (const path of fieldpaths) {
        if (path === 'labels') {
          labels = compactLabels(incoming);
          continue;
        }
        const k = path.slice('labels.'.length);
        const v = incoming[k];
        if (v === undefined || v === '') delete labels[k];
        else labels[k] = v;
      }
      validateLabels(labels, 'snapshot labels');
      const before = inherited(ref.labels);
      const after = inherited(labels);
      if (JSON.stringify(before) !== JSON.stringify(after))
        await this.backend.update({ name: ref.backendKey, labels: after }, ['labels']);
      const updatedAt = new Date(
        Math.max(Date.now(), new Date(ref.createdAt).getTime()),
      ).toISOString();
      const next = { ...ref, labels, updatedAt };
      r.put(info.name, next);
      return toInfo(info.name, next);
    });
  }

  /** Every snapshot of the namespace matching any of the containerd filters. */
  async list(namespace: string, filters: readonly string[] = []): Promise<Info[]> {
    const f = parseFilters([...filters]);
    const all = await this.refs(namespace).read((r) => r.list());
    return all.map(([k, ref]) => toInfo(k, ref)).filter((i) => f.match(adaptor(i)));
  }

  async walk(
    namespace: string,
    fn: (info: Info) => void | Promise<void>,
    filters: readonly string[] = [],
  ): Promise<void> {
    for (const info of await this.list(namespace, filters)) await fn(info);
  }

  async usage(namespace: string, key: string): Promise<Usage> {
    const ref = await this.refs(namespace).read((r) => r.mustGet(key));
    return this.backend.usage(ref.backendKey);
  }

  /** The backend's own cleanup (directories without records). */
  cleanup(): Promise<void> {
    return this.backend.cleanup();
  }
}
