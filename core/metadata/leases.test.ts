import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/catalogue.js';
import { MetadataDB } from './db.js';
import { namespaceLock } from './namespaces.js';
import type { CallContext } from '../../plugins/server/context.js';
import { LeasesLocal } from '../../plugins/leases/service.js';
import {
  addLeaseResourceTx,
  generateLeaseId,
  isExpired,
  isFlat,
  LEASE_EXPIRE_LABEL,
  LEASE_FLAT_LABEL,
  LeaseStore,
  validateLeaseId,
} from './leases.js';

let dir: string;
let db: MetadataDB;
let collected: number;
let store: LeaseStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-leases-'));
  db = await MetadataDB.open(dir);
  collected = 0;
  store = new LeaseStore(db, {
    collect: async () => {
      collected++;
    },
  });
});
afterEach(async () => {
  await db.close();
  await rm(dir, { recursive: true, force: true });
});

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha512:${'2'.repeat(128)}`;

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (isBerthError(err)) return err.code;
    throw err;
  }
}

describe('lease store', () => {
  it('creates with a given or generated id and reads back', async () => {
    const given = await store.create('default', { id: 'pull-1', labels: { a: '1', empty: '' } });
    expect(given).toMatchObject({ id: 'pull-1', labels: { a: '1' } });
    expect(given.createdAt).toBeInstanceOf(Date);
    expect(await store.get('default', 'pull-1')).toEqual(given);

    const generated = await store.create('default');
    expect(generated.id).toMatch(/^\d+-[0-9a-f]{10}$/);
    expect(generateLeaseId()).not.toBe(generateLeaseId());
    expect((await store.list('default')).map((l) => l.id).sort()).toEqual(
      [generated.id, 'pull-1'].sort(),
    );
    expect((await db.namespaces.get('default')).name).toBe('default');
    expect(await code(store.create('default', { id: 'pull-1' }))).toBe('AlreadyExists');
  });

  it('accepts the ids containerd clients generate and rejects unsafe ones', async () => {
    // containerd's client: "<nanoseconds>-<base64url of 3 bytes>".
    for (const id of ['123456789-Ab_-', '42--x', 'a.b:c@d=e+f']) {
      await store.create('default', { id });
      expect((await store.get('default', id)).id).toBe(id);
    }
    for (const id of ['a/b', 'a b', 'a\tb', 'x\u0000', 'x'.repeat(256), 'a\ud800']) {
      expect(() => validateLeaseId(id), JSON.stringify(id)).toThrow();
      expect(await code(store.create('default', { id })), JSON.stringify(id)).toBe(
        'InvalidArgument',
      );
    }
    expect(await code(store.create('../x', { id: 'ok' }))).toBe('InvalidArgument');
  });

  it('validates labels, including the RFC3339 expiry', async () => {
    expect(
      await code(
        store.create('default', { id: 'x', labels: { [LEASE_EXPIRE_LABEL]: 'tomorrow' } }),
      ),
    ).toBe('InvalidArgument');
    expect(await code(store.create('default', { id: 'x', labels: { k: 'v'.repeat(4096) } }))).toBe(
      'InvalidArgument',
    );
    const l = await store.create('default', {
      id: 'x',
      labels: { [LEASE_EXPIRE_LABEL]: '2030-01-02T03:04:05.123+01:00' },
    });
    expect(l.labels[LEASE_EXPIRE_LABEL]).toBe('2030-01-02T03:04:05.123+01:00');
  });

  it('isExpired and isFlat read the gc labels', () => {
    const at = (v: string) => ({ labels: { [LEASE_EXPIRE_LABEL]: v } });
    const now = new Date('2025-06-01T12:00:00Z');
    expect(isExpired({ labels: {} }, now)).toBe(false);
    expect(isExpired(at('2025-06-01T11:59:59Z'), now)).toBe(true);
    expect(isExpired(at('2025-06-01T12:00:00Z'), now)).toBe(false);
    expect(isExpired(at('2025-06-01T13:30:00+02:00'), now)).toBe(true);
    expect(isExpired(at('2025-06-01T12:00:01Z'), now)).toBe(false);
    // containerd's GC keeps a lease whose expiry it cannot parse.
    expect(isExpired(at('garbage'), now)).toBe(false);
    expect(isFlat({ labels: { [LEASE_FLAT_LABEL]: 'true' } })).toBe(true);
    expect(isFlat({ labels: {} })).toBe(false);
  });

  it('adds, lists and deletes resources of every type', async () => {
    await store.create('default', { id: 'l1' });
    await store.create('default', { id: 'l1x' });
    const snapKey = 'extract-123 sha256:abc/def';
    await store.addResource('default', 'l1', { id: snapKey, type: 'snapshots/overlayfs' });
    await store.addResource('default', 'l1', { id: 'pull/layer-1', type: 'ingests' });
    await store.addResource('default', 'l1', { id: D2, type: 'content' });
    await store.addResource('default', 'l1', { id: D1, type: 'content' });
    await store.addResource('default', 'l1', { id: D1, type: 'content' }); // idempotent
    await store.addResource('default', 'l1', { id: 'k', type: 'snapshots/native' });
    await store.addResource('default', 'l1x', { id: D1, type: 'content' });

    expect(await store.listResources('default', 'l1')).toEqual([
      { id: D1, type: 'content' },
      { id: D2, type: 'content' },
      { id: 'pull/layer-1', type: 'ingests' },
      { id: 'k', type: 'snapshots/native' },
      { id: snapKey, type: 'snapshots/overlayfs' },
    ]);
    // Resource keys never show up as leases.
    expect((await store.list('default')).map((l) => l.id).sort()).toEqual(['l1', 'l1x']);

    await store.deleteResource('default', 'l1', { id: D2, type: 'content' });
    await store.deleteResource('default', 'l1', { id: D2, type: 'content' }); // not there: fine
    await store.deleteResource('default', 'l1', { id: snapKey, type: 'snapshots/overlayfs' });
    expect(await store.listResources('default', 'l1')).toEqual([
      { id: D1, type: 'content' },
      { id: 'pull/layer-1', type: 'ingests' },
      { id: 'k', type: 'snapshots/native' },
    ]);
    expect(await store.listResources('default', 'l1x')).toEqual([{ id: D1, type: 'content' }]);
  });

  it('validates resources like containerd', async () => {
    await store.create('default', { id: 'l1' });
    const add = (id: string, type: string) =>
      code(store.addResource('default', 'l1', { id, type }));
    expect(await add('sha256:short', 'content')).toBe('InvalidArgument');
    expect(await add(D1, 'content/extra')).toBe('InvalidArgument');
    expect(await add('ref', 'ingests/x')).toBe('InvalidArgument');
    expect(await add('k', 'snapshots')).toBe('InvalidArgument');
    expect(await add('k', 'snapshots/a/b')).toBe('InvalidArgument');
    expect(await add('k', 'snapshots/')).toBe('InvalidArgument');
    expect(await add('', 'ingests')).toBe('InvalidArgument');
    expect(await add('x', 'containers')).toBe('NotImplemented');
    expect(await add('x', '')).toBe('InvalidArgument');
    expect(await store.listResources('default', 'l1')).toEqual([]);
  });

  it('reports NotFound for a missing lease everywhere', async () => {
    const r = { id: D1, type: 'content' };
    expect(await code(store.get('default', 'nope'))).toBe('NotFound');
    expect(await code(store.delete('default', 'nope'))).toBe('NotFound');
    expect(await code(store.addResource('default', 'nope', r))).toBe('NotFound');
    expect(await code(store.deleteResource('default', 'nope', r))).toBe('NotFound');
    expect(await code(store.listResources('default', 'nope'))).toBe('NotFound');
    // A lease in another namespace is not visible.
    await store.create('other', { id: 'nope' });
    expect(await code(store.addResource('default', 'nope', r))).toBe('NotFound');
  });

  it('delete removes the resources with the lease and syncs only when asked', async () => {
    await store.create('default', { id: 'l1' });
    await store.addResource('default', 'l1', { id: D1, type: 'content' });
    await store.addResource('default', 'l1', { id: 'k', type: 'snapshots/overlayfs' });
    await store.delete('default', 'l1');
    expect(collected).toBe(0);
    // Nothing left behind: the namespace can be deleted.
    await db.namespaces.delete('default');

    await store.create('default', { id: 'l1' });
    expect(await store.listResources('default', 'l1')).toEqual([]);
    await store.delete('default', 'l1', { sync: true });
    expect(collected).toBe(1);
  });

  it('a lease keeps its namespace from being deleted', async () => {
    await store.create('busy', { id: 'l1' });
    expect(await code(db.namespaces.delete('busy'))).toBe('FailedPrecondition');
  });

  it('enumerates every lease with its resources across namespaces', async () => {
    await store.create('ns-a', { id: 'l1', labels: { [LEASE_FLAT_LABEL]: '1' } });
    await store.create('ns-b', { id: 'l1' });
    await store.create('ns-b', { id: 'l2' });
    await store.addResource('ns-a', 'l1', { id: D1, type: 'content' });
    await store.addResource('ns-b', 'l2', { id: 'k', type: 'snapshots/overlayfs' });
    const all = await store.all();
    expect(
      all.map((e) => ({ ns: e.namespace, id: e.lease.id, flat: isFlat(e.lease), r: e.resources })),
    ).toEqual([
      { ns: 'ns-a', id: 'l1', flat: true, r: [{ id: D1, type: 'content' }] },
      { ns: 'ns-b', id: 'l1', flat: false, r: [] },
      { ns: 'ns-b', id: 'l2', flat: false, r: [{ id: 'k', type: 'snapshots/overlayfs' }] },
    ]);
  });

  it('addLeaseResourceTx leases inside the caller’s own transaction', async () => {
    await store.create('default', { id: 'l1' });
    // The resource write and the caller's own write commit together, or not at all.
    await expect(
      db.update([namespaceLock('default')], async (tx) => {
        tx.put('v1/ns/default/test/obj', '{}');
        await addLeaseResourceTx(tx, 'default', 'l1', { id: D1, type: 'content' });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(await store.listResources('default', 'l1')).toEqual([]);
    await db.update([namespaceLock('default')], (tx) =>
      addLeaseResourceTx(tx, 'default', 'l1', { id: D1, type: 'content' }),
    );
    expect(await store.listResources('default', 'l1')).toEqual([{ id: D1, type: 'content' }]);
  });
});

describe('leases service', () => {
  const ctx: CallContext = { namespace: 'default', signal: new AbortController().signal };

  it('filters by id and labels', async () => {
    const svc = new LeasesLocal(store);
    await svc.create({ id: 'a', labels: { team: 'x', tier: '1' } }, ctx);
    await svc.create({ id: 'b', labels: { team: 'y' } }, ctx);
    const generated = (await svc.create({ id: '', labels: {} }, ctx)).lease!;
    expect(generated.id).not.toBe('');
    expect(generated.createdAt?.seconds).toBeGreaterThan(0);
    const ids = async (...filters: string[]) =>
      (await svc.list({ filters }, ctx)).leases.map((l) => l.id).sort();
    expect(await ids()).toHaveLength(3);
    expect(await ids('id==a')).toEqual(['a']);
    expect(await ids('labels.team==y')).toEqual(['b']);
    expect(await ids('labels.tier')).toEqual(['a']);
    expect(await ids('labels.team!=x')).toEqual(['b', generated.id].sort());
    expect(await ids('id==a', 'id==b')).toEqual(['a', 'b']);
  });

  it('maps resources and sync through', async () => {
    const svc = new LeasesLocal(store);
    await svc.create({ id: 'a', labels: {} }, ctx);
    await svc.addResource({ id: 'a', resource: { id: D1, type: 'content' } }, ctx);
    expect((await svc.listResources({ id: 'a' }, ctx)).resources).toEqual([
      { id: D1, type: 'content' },
    ]);
    expect(await code(svc.addResource({ id: 'a', resource: undefined }, ctx))).toBe(
      'InvalidArgument',
    );
    await svc.deleteResource({ id: 'a', resource: { id: D1, type: 'content' } }, ctx);
    expect((await svc.listResources({ id: 'a' }, ctx)).resources).toEqual([]);
    await svc.delete({ id: 'a', sync: true }, ctx);
    expect(collected).toBe(1);
  });
});
