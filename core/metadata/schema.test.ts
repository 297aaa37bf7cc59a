import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/catalogue.js';
import { MetadataDB } from './db.js';
import type { Migration } from './schema.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-meta-schema-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function withDB<T>(
  options: Parameters<typeof MetadataDB.open>[1],
  fn: (db: MetadataDB) => Promise<T>,
): Promise<T> {
  const db = await MetadataDB.open(dir, options);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

describe('schema version', () => {
  it('stamps a fresh database with the current version', async () => {
    await withDB({ schemaVersion: 3 }, async (db) => {
      expect(db.schema).toEqual({ previous: undefined, version: 3, applied: [] });
      expect(await db.view((tx) => tx.getJSON('schema'))).toEqual({ version: 3 });
    });
    await withDB({ schemaVersion: 3 }, async (db) => {
      expect(db.schema.previous).toBe(3);
    });
  });

  it('refuses a database written by a newer version', async () => {
    await withDB({ schemaVersion: 2 }, async () => {});
    const err = await MetadataDB.open(dir, { schemaVersion: 1 }).catch((e: unknown) => e);
    expect(isBerthError(err, 'FailedPrecondition')).toBe(true);
    expect((err as Error).message).toMatch(
      /schema version 2 is newer than this berthd supports \(1\)/,
    );
    // The refused open released the database: a current opener still gets in.
    await withDB({ schemaVersion: 2 }, async (db) => expect(db.schema.previous).toBe(2));
  });

  it('runs chained migrations once, seeing earlier steps, then never again', async () => {
    await withDB({ schemaVersion: 1 }, async (db) => {
      await db.containers.create('default', {
        id: 'c1',
        runtime: { name: 'io.containerd.runc.v2' },
        spec: spec(),
      });
    });
    const calls: string[] = [];
    const migrations: Migration[] = [
      {
        from: 1,
        to: 2,
        async migrate(tx) {
          calls.push('1->2');
          // Copy every container into a new kind (a stand-in for a layout change).
          for await (const [key, value] of tx.entries('v1/ns/default/containers/')) {
            tx.put(key.replace('/containers/', '/renamed/'), value);
            tx.del(key);
          }
        },
      },
      {
        from: 2,
        to: 3,
        async migrate(tx) {
          calls.push('2->3');
          // Must see the previous step's pending writes, not the old snapshot.
          const moved: string[] = [];
          for await (const [key] of tx.entries('v1/ns/default/')) moved.push(key);
          expect(moved).toEqual(['v1/ns/default/renamed/c1']);
          tx.put('v1/marker/done', 'yes');
        },
      },
    ];
    await withDB({ schemaVersion: 3, migrations }, async (db) => {
      expect(db.schema.previous).toBe(1);
      expect(db.schema.applied.map((m) => `${m.from}->${m.to}`)).toEqual(['1->2', '2->3']);
      expect(await db.view((tx) => tx.get('v1/marker/done'))).toBe('yes');
      expect(await db.containers.list('default')).toEqual([]);
    });
    await withDB({ schemaVersion: 3, migrations }, async (db) => {
      expect(db.schema.applied).toEqual([]);
    });
    expect(calls).toEqual(['1->2', '2->3']);
  });

  it('leaves the database untouched when a migration fails', async () => {
    await withDB({ schemaVersion: 1 }, async (db) => {
      await db.namespaces.create('keep', { a: '1' });
    });
    const failing: Migration[] = [
      {
        from: 1,
        to: 2,
        migrate(tx) {
          tx.put('v1/marker/first', 'x');
          tx.del('v1/namespaces/keep');
        },
      },
      {
        from: 2,
        to: 3,
        migrate() {
          throw new Error('boom');
        },
      },
    ];
    await expect(MetadataDB.open(dir, { schemaVersion: 3, migrations: failing })).rejects.toThrow(
      'boom',
    );
    await withDB({ schemaVersion: 1 }, async (db) => {
      expect(db.schema.previous).toBe(1);
      expect(await db.view((tx) => tx.get('v1/marker/first'))).toBeUndefined();
      expect(await db.namespaces.get('keep')).toEqual({ name: 'keep', labels: { a: '1' } });
    });
  });

  it('refuses to open when no migration path exists', async () => {
    await withDB({ schemaVersion: 1 }, async () => {});
    const err = await MetadataDB.open(dir, {
      schemaVersion: 3,
      migrations: [{ from: 2, to: 3, migrate() {} }],
    }).catch((e: unknown) => e);
    expect(isBerthError(err, 'FailedPrecondition')).toBe(true);
    expect((err as Error).message).toMatch(/no migration from version 1/);
  });

  it('refuses data without a schema stamp', async () => {
    await withDB({}, async (db) => {
      await db.namespaces.create('x');
      await db.update(['schema'], async (tx) => tx.del('schema'));
    });
    const err = await MetadataDB.open(dir).catch((e: unknown) => e);
    expect(isBerthError(err, 'DataLoss')).toBe(true);
  });
});

function spec() {
  return {
    typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
    value: new TextEncoder().encode('{}'),
  };
}
