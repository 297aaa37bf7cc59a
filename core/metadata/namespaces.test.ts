import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/catalogue.js';
import { MetadataDB } from './db.js';

let dir: string;
let db: MetadataDB;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-meta-ns-'));
  db = await MetadataDB.open(dir);
});
afterEach(async () => {
  await db.close();
  await rm(dir, { recursive: true, force: true });
});

const runtime = { name: 'io.containerd.runc.v2' };
const spec = {
  typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
  value: new Uint8Array([123, 125]),
};

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (isBerthError(err)) return err.code;
    throw err;
  }
}

describe('namespaces', () => {
  it('creates, gets, lists and deletes', async () => {
    expect(await db.namespaces.create('default', { team: 'a' })).toEqual({
      name: 'default',
      labels: { team: 'a' },
    });
    await db.namespaces.create('k8s.io');
    expect(await db.namespaces.get('default')).toEqual({ name: 'default', labels: { team: 'a' } });
    expect(await db.namespaces.list()).toEqual([
      { name: 'default', labels: { team: 'a' } },
      { name: 'k8s.io', labels: {} },
    ]);
    await db.namespaces.delete('k8s.io');
    expect(await code(db.namespaces.get('k8s.io'))).toBe('NotFound');
    expect((await db.namespaces.list()).map((n) => n.name)).toEqual(['default']);
  });

  it('reports AlreadyExists, NotFound and invalid names', async () => {
    await db.namespaces.create('dup');
    await expect(db.namespaces.create('dup')).rejects.toThrow('namespace "dup": already exists');
    await expect(db.namespaces.get('nope')).rejects.toThrow('namespace "nope": not found');
    expect(await code(db.namespaces.delete('nope'))).toBe('NotFound');
    expect(await code(db.namespaces.setLabel('nope', 'a', 'b'))).toBe('NotFound');
    expect(await code(db.namespaces.create('bad/name'))).toBe('InvalidArgument');
    expect(await code(db.namespaces.create('x', { '': 'v' }))).toBe('InvalidArgument');
  });

  it('sets and removes single labels', async () => {
    await db.namespaces.create('n', { a: '1' });
    await db.namespaces.setLabel('n', 'b', '2');
    expect((await db.namespaces.get('n')).labels).toEqual({ a: '1', b: '2' });
    await db.namespaces.setLabel('n', 'a', '');
    expect((await db.namespaces.get('n')).labels).toEqual({ b: '2' });
  });

  it('applies update field masks', async () => {
    await db.namespaces.create('n', { a: '1', b: '2', c: '3' });
    // No mask: replace everything.
    expect((await db.namespaces.update('n', { x: '9' })).labels).toEqual({ x: '9' });
    await db.namespaces.update('n', { a: '1', b: '2', c: '3' }, ['labels']);
    expect((await db.namespaces.get('n')).labels).toEqual({ a: '1', b: '2', c: '3' });
    // labels.<k>: set one key, remove one absent from the request; others untouched.
    const updated = await db.namespaces.update('n', { a: 'changed', z: 'ignored' }, [
      'labels.a',
      'labels.b',
    ]);
    expect(updated.labels).toEqual({ a: 'changed', c: '3' });
    await expect(db.namespaces.update('n', {}, ['name'])).rejects.toThrow(
      'cannot update "name" field: invalid argument',
    );
    expect((await db.namespaces.get('n')).labels).toEqual({ a: 'changed', c: '3' });
  });

  it('refuses to delete a namespace that still holds resources', async () => {
    await db.containers.create('busy', { id: 'c1', runtime, spec });
    const err = await db.namespaces.delete('busy').catch((e: unknown) => e);
    expect(isBerthError(err, 'FailedPrecondition')).toBe(true);
    expect((err as Error).message).toBe(
      'namespace "busy" must be empty, but it still has containers: failed precondition',
    );
    await db.containers.delete('busy', 'c1');
    await db.namespaces.delete('busy');
    expect(await code(db.namespaces.get('busy'))).toBe('NotFound');
  });

  it('finds every resource kind under the namespace, including kinds added later', async () => {
    await db.namespaces.create('multi');
    await db.containers.create('multi', { id: 'c1', runtime, spec });
    await db.update(['ns/multi'], async (tx) => {
      // Kinds the store knows nothing about, one with nested keys.
      tx.put('v1/ns/multi/images/docker.io%2Flibrary%2Fbusybox', '{}');
      tx.put('v1/ns/multi/snapshots/overlayfs/a/b', '{}');
      tx.put('v1/ns/multi/snapshots/overlayfs/c', '{}');
      // A namespace whose name extends this one must not count.
      tx.put('v1/ns/multi-2/leases/l1', '{}');
    });
    await expect(db.namespaces.delete('multi')).rejects.toThrow(
      'namespace "multi" must be empty, but it still has containers, images, snapshots',
    );
  });
});
