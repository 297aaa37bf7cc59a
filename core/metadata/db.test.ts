import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/catalogue.js';
import { MetadataDB, type MutationEvent } from './db.js';
import type { ReadTx } from './transaction.js';

let dir: string;
let db: MetadataDB;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-meta-db-'));
  db = await MetadataDB.open(dir);
});
afterEach(async () => {
  await db.close();
  await rm(dir, { recursive: true, force: true });
});

const spec = { typeUrl: 'spec', value: new Uint8Array([1]) };

async function collect(tx: ReadTx, prefix: string, options?: Parameters<ReadTx['entries']>[1]) {
  const out: string[] = [];
  for await (const [k, v] of tx.entries(prefix, options)) out.push(`${k}=${v}`);
  return out;
}

describe('transactions', () => {
  it('commits all writes of a transaction or none of them', async () => {
    await db.update(['t'], async (tx) => {
      tx.put('v1/t/a', '1');
      tx.put('v1/t/b', '2');
    });
    await expect(
      db.update(['t'], async (tx) => {
        tx.put('v1/t/c', '3');
        tx.del('v1/t/a');
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(await db.view((tx) => collect(tx, 'v1/t/'))).toEqual(['v1/t/a=1', 'v1/t/b=2']);
  });

  it('iterates its own pending writes merged over the snapshot, in byte order', async () => {
    await db.update(['t'], async (tx) => {
      for (const k of ['b', 'd', 'f']) tx.put(`v1/t/${k}`, 'old');
      tx.put('v1/t0', 'outside');
    });
    const seen = await db.update(['t'], async (tx) => {
      tx.put('v1/t/a', 'new');
      tx.put('v1/t/d', 'new');
      tx.del('v1/t/f');
      tx.put('v1/t/z', 'new');
      tx.put('v1/t/é', 'new'); // sorts after 'z' in UTF-8 bytes
      tx.put('v1/t/\u{1F600}', 'astral'); // after U+FFxx in UTF-8; before it in UTF-16
      tx.put('v1/t/\uFF21', 'fullwidth');
      return {
        all: await collect(tx, 'v1/t/'),
        from: await collect(tx, 'v1/t/', { gte: 'v1/t/c', limit: 2 }),
        get: [await tx.get('v1/t/f'), await tx.get('v1/t/d')],
      };
    });
    expect(seen.all).toEqual([
      'v1/t/a=new',
      'v1/t/b=old',
      'v1/t/d=new',
      'v1/t/z=new',
      'v1/t/é=new',
      'v1/t/\uFF21=fullwidth',
      'v1/t/\u{1F600}=astral',
    ]);
    expect(seen.from).toEqual(['v1/t/d=new', 'v1/t/z=new']);
    expect(seen.get).toEqual([undefined, 'new']);
    // The committed order matches LevelDB's own.
    expect(await db.view((tx) => collect(tx, 'v1/t/'))).toEqual(seen.all);
  });

  it('reads a consistent snapshot in a view while writes land', async () => {
    await db.update(['t'], async (tx) => tx.put('v1/t/a', '1'));
    const result = await db.view(async (tx) => {
      await db.update(['t'], async (w) => w.put('v1/t/a', '2'));
      return tx.get('v1/t/a');
    });
    expect(result).toBe('1');
    expect(await db.view((tx) => tx.get('v1/t/a'))).toBe('2');
  });

  it('refuses writes in a view and ranges outside their prefix', async () => {
    await expect(
      db.view(async (tx) => (tx as unknown as { put(k: string, v: string): void }).put('a', 'b')),
    ).rejects.toThrow(/read-only/);
    await expect(db.view((tx) => collect(tx, 'v1/a/', { gte: 'v1/b/' }))).rejects.toThrow(
      /outside prefix/,
    );
  });

  it('surfaces a corrupt JSON record as DataLoss', async () => {
    await db.update(['ns/default'], async (tx) =>
      tx.put('v1/ns/default/containers/broken', '{not json'),
    );
    const err = await db.containers.list('default').catch((e: unknown) => e);
    expect(isBerthError(err, 'DataLoss')).toBe(true);
    await db.update(['ns/default'], async (tx) =>
      tx.put('v1/ns/default/containers/broken', '{"id":"broken"}'),
    );
    expect(
      isBerthError(
        await db.containers.get('default', 'broken').catch((e: unknown) => e),
        'DataLoss',
      ),
    ).toBe(true);
  });
});

describe('mutation notifications', () => {
  it('fires once per namespace and kind after each commit, not on failure', async () => {
    const events: MutationEvent[] = [];
    const off = db.onMutation((e) => events.push(e));
    await db.containers.create('ns1', { id: 'c1', runtime: { name: 'rt' }, spec });
    // The implicit namespace record and the container land in one commit.
    expect([...events].sort((a, b) => a.kind.localeCompare(b.kind))).toEqual([
      { namespace: 'ns1', kind: 'containers' },
      { namespace: 'ns1', kind: 'namespaces' },
    ]);
    events.length = 0;
    await db.containers.create('ns1', { id: 'c2', runtime: { name: 'rt' }, spec });
    expect(events).toEqual([{ namespace: 'ns1', kind: 'containers' }]);
    events.length = 0;
    await db.containers.create('ns1', { id: 'c2', runtime: { name: 'rt' }, spec }).catch(() => {});
    await db.containers.get('ns1', 'c2');
    expect(events).toEqual([]);
    await db.containers.delete('ns1', 'c2');
    expect(events).toEqual([{ namespace: 'ns1', kind: 'containers' }]);
    off();
    await db.containers.delete('ns1', 'c1');
    expect(events).toHaveLength(1);
  });

  it('keeps a write successful when a listener throws', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      db.onMutation(() => {
        throw new Error('listener bug');
      });
      await db.namespaces.create('ok');
      await new Promise((r) => setImmediate(r));
      expect(await db.namespaces.get('ok')).toEqual({ name: 'ok', labels: {} });
      expect(warnings.some((w) => w.includes('listener bug'))).toBe(true);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('lifecycle', () => {
  it('persists across reopen', async () => {
    await db.containers.create('p', { id: 'c', runtime: { name: 'rt' }, spec, labels: { k: 'v' } });
    await db.close();
    db = await MetadataDB.open(dir);
    expect((await db.containers.get('p', 'c')).labels).toEqual({ k: 'v' });
  });

  it('refuses a second opener of the same directory with Unavailable', async () => {
    const err = await MetadataDB.open(dir).catch((e: unknown) => e);
    expect(isBerthError(err, 'Unavailable')).toBe(true);
    expect((err as Error).message).toMatch(/in use by another process/);
  });

  it('waits for running transactions on close and refuses new ones after', async () => {
    let unblock!: () => void;
    const gate = new Promise<void>((r) => (unblock = r));
    const pending = db.update(['x'], async (tx) => {
      await gate;
      tx.put('v1/x/k', 'v');
    });
    const closing = db.close();
    await expect(db.namespaces.list()).rejects.toThrow('metadata database is closed: unavailable');
    unblock();
    await pending;
    await closing;
    db = await MetadataDB.open(dir);
    expect(await db.view((tx) => tx.get('v1/x/k'))).toBe('v');
  });
});
