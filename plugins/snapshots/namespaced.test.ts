import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../core/errors/catalogue.js';
import {
  SnapshotCommit,
  SnapshotPrepare,
  SnapshotRemove,
} from '../../api/gen/containerd/events/snapshot.js';
import type { Any } from '../../api/gen/google/protobuf/any.js';
import { NativeSnapshotter } from '../../snapshots/native/native.js';
import { type Info, Kind } from '../../core/snapshots/types.js';
import { MetadataDB } from '../../core/metadata/db.js';
import { type NamespacedSnapshotter, SnapshotService } from './namespaced.js';

let dir: string;
let db: MetadataDB;
let backend: NativeSnapshotter;
let service: SnapshotService;
let sn: NamespacedSnapshotter;
let events: { ns: string; topic: string; event: Any }[];

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'berth-nssnap-'));
  db = await MetadataDB.open(path.join(dir, 'meta.db'));
  backend = await NativeSnapshotter.open(path.join(dir, 'native'));
  events = [];
  service = new SnapshotService(db, new Map([['native', backend]]), {
    publish: (ns, topic, event) => void events.push({ ns, topic, event }),
  });
  sn = service.snapshotter('native');
});
afterEach(async () => {
  await backend.close();
  await db.close();
  await rm(dir, { recursive: true, force: true });
});

const expectCode = (p: Promise<unknown>, code: ErrorCode) =>
  expect(p).rejects.toMatchObject({ name: 'BerthError', code });

async function backendInfos(): Promise<Info[]> {
  const out: Info[] = [];
  await backend.walk((i) => void out.push(i));
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

describe('SnapshotService', () => {
  it('requires a loaded snapshotter name', () => {
    expect(() => service.snapshotter('')).toThrow(/snapshotter argument missing/);
    expect(() => service.snapshotter('zfs')).toThrow(/snapshotter not loaded: zfs/);
    expect(service.names()).toEqual(['native']);
  });
});

describe('NamespacedSnapshotter', () => {
  it('gives each namespace its own keys, mapped to <ns>/<seq>/<key> in the backend', async () => {
    await sn.prepare('a', 'rootfs', '');
    await sn.prepare('b', 'rootfs', '');
    await expectCode(sn.prepare('a', 'rootfs', ''), 'AlreadyExists');
    expect((await backendInfos()).map((i) => i.name)).toEqual(['a/1/rootfs', 'b/2/rootfs']);
    const mounts = await sn.mounts('b', 'rootfs');
    expect(mounts[0]!.source).toBe(path.join(dir, 'native', 'snapshots', '2'));
    expect((await sn.list('a')).map((i) => i.name)).toEqual(['rootfs']);
    await sn.remove('a', 'rootfs');
    await expectCode(sn.stat('a', 'rootfs'), 'NotFound');
    expect((await sn.stat('b', 'rootfs')).kind).toBe(Kind.Active);
    expect((await backendInfos()).map((i) => i.name)).toEqual(['b/2/rootfs']);
  });

  it('commits under a new backend key and keeps parents within the namespace', async () => {
    await sn.prepare('ns', 'extract-1 sha256:l1', '', {
      labels: { 'containerd.io/snapshot/x': 'y' },
    });
    await sn.commit('ns', 'sha256:l1', 'extract-1 sha256:l1', { labels: { a: 'b' } });
    await sn.prepare('ns', 'ctr', 'sha256:l1');
    expect(await sn.stat('ns', 'sha256:l1')).toMatchObject({
      name: 'sha256:l1',
      parent: '',
      kind: Kind.Committed,
      labels: { a: 'b' },
    });
    expect(await sn.stat('ns', 'ctr')).toMatchObject({ parent: 'sha256:l1', kind: Kind.Active });
    const infos = await backendInfos();
    expect(infos.map((i) => [i.name, i.parent, i.kind])).toEqual([
      ['ns/2/sha256:l1', '', Kind.Committed],
      ['ns/3/ctr', 'ns/2/sha256:l1', Kind.Active],
    ]);
    // Another namespace cannot use this namespace's parent.
    await expectCode(sn.prepare('other', 'ctr', 'sha256:l1'), 'NotFound');
    await expectCode(sn.remove('ns', 'sha256:l1'), 'FailedPrecondition');
    await expectCode(sn.prepare('ns', 'x', 'ctr'), 'InvalidArgument');
    await expectCode(sn.commit('ns', 'sha256:l1', 'ctr'), 'AlreadyExists');
    await expectCode(sn.commit('ns', 'n', 'missing'), 'NotFound');
  });

  it('publishes prepare, commit and remove events', async () => {
    await sn.prepare('ev', 'k', '');
    await sn.view('ev', 'v', '');
    await sn.commit('ev', 'c', 'k');
    await sn.remove('ev', 'c');
    expect(events.map((e) => [e.ns, e.topic])).toEqual([
      ['ev', '/snapshot/prepare'],
      ['ev', '/snapshot/commit'],
      ['ev', '/snapshot/remove'],
    ]);
    expect(SnapshotPrepare.decode(events[0]!.event.value)).toEqual({ key: 'k', parent: '' });
    expect(SnapshotCommit.decode(events[1]!.event.value)).toEqual({ key: 'k', name: 'c' });
    expect(SnapshotRemove.decode(events[2]!.event.value)).toEqual({ key: 'c' });
    expect(events[0]!.event.typeUrl).toBe('containerd.events.SnapshotPrepare');
  });

  it('leaves no record when the backend or the lease hook fails', async () => {
    await backend.prepare('taken', '');
    // Make the backend refuse the next key by pre-creating it there.
    await backend.prepare('f/1/k', '');
    await expectCode(sn.prepare('f', 'k', ''), 'AlreadyExists');
    await expectCode(sn.stat('f', 'k'), 'NotFound');
    // A lease hook that throws aborts the transaction before the backend is touched.
    service.setLeaseHook(() => {
      throw new Error('lease gone');
    });
    await expect(sn.prepare('f', 'k2', '', { lease: 'l1' })).rejects.toThrow('lease gone');
    await expectCode(sn.stat('f', 'k2'), 'NotFound');
    expect((await backendInfos()).map((i) => i.name)).toEqual(['f/1/k', 'taken']);
  });

  it('calls the lease hook inside the creating transaction', async () => {
    const seen: string[] = [];
    service.setLeaseHook((ns, lease, key, { snapshotter, tx }) => {
      seen.push(`${ns} ${lease} ${snapshotter} ${key}`);
      tx.put(`v1/test-lease/${ns}/${lease}/${key}`, '1');
    });
    await sn.prepare('l', 'k', '', { lease: 'lease-1' });
    await sn.commit('l', 'c', 'k', { lease: 'lease-1' });
    await sn.prepare('l', 'nolease', '');
    expect(seen).toEqual(['l lease-1 native k', 'l lease-1 native c']);
    expect(await db.view((tx) => tx.get('v1/test-lease/l/lease-1/c'))).toBe('1');
  });

  it('filters list by kind, name, parent and labels', async () => {
    await sn.prepare('fl', 'a', '', { labels: { app: 'web' } });
    await sn.commit('fl', 'base', 'a');
    await sn.prepare('fl', 'work', 'base', { labels: { app: 'db' } });
    await sn.view('fl', 'ro', 'base');
    const names = async (...f: string[]) => (await sn.list('fl', f)).map((i) => i.name).sort();
    expect(await names()).toEqual(['base', 'ro', 'work']);
    expect(await names('kind==committed')).toEqual(['base']);
    expect(await names('kind==view')).toEqual(['ro']);
    expect(await names('parent==base')).toEqual(['ro', 'work']);
    expect(await names('labels.app==db')).toEqual(['work']);
    expect(await names('name~=^w', 'kind==view')).toEqual(['ro', 'work']);
    await expectCode(sn.list('fl', ['kind==']), 'InvalidArgument');
  });

  it('updates labels with field masks, passing inherited labels to the backend', async () => {
    await sn.prepare('up', 'k', '', { labels: { a: '1' } });
    let info = await sn.update(
      'up',
      {
        name: 'k',
        labels: { b: '2', 'containerd.io/snapshot/remote': 'r' },
      },
      ['labels.b', 'labels.containerd.io/snapshot/remote'],
    );
    expect(info.labels).toEqual({ a: '1', b: '2', 'containerd.io/snapshot/remote': 'r' });
    expect((await backend.stat('up/1/k')).labels).toEqual({ 'containerd.io/snapshot/remote': 'r' });
    info = await sn.update('up', { name: 'k', labels: { c: '3' } });
    expect(info.labels).toEqual({ c: '3' });
    expect((await backend.stat('up/1/k')).labels).toEqual({});
    await expectCode(sn.update('up', { name: 'k' }, ['kind']), 'InvalidArgument');
    await expectCode(sn.update('up', { name: 'nope', labels: {} }), 'NotFound');
  });

  it('keeps a namespace from being deleted until its snapshots are gone', async () => {
    await sn.prepare('gone', 'k', '');
    await expect(db.namespaces.delete('gone')).rejects.toMatchObject({
      code: 'FailedPrecondition',
    });
    await sn.remove('gone', 'k');
    await db.namespaces.delete('gone');
  });

  it('commits writes made alongside a removal with it, and none when either fails', async () => {
    await sn.prepare('al', 'k', '');
    await sn.remove('al', 'k', { alongside: async (tx) => tx.put('v1/test/alongside', 'yes') });
    expect(await db.view((tx) => tx.get('v1/test/alongside'))).toBe('yes');
    await expectCode(sn.stat('al', 'k'), 'NotFound');

    await sn.prepare('al', 'p-k', '');
    await sn.commit('al', 'p', 'p-k');
    await sn.prepare('al', 'c', 'p');
    const refused = sn.remove('al', 'p', { alongside: async (tx) => tx.put('v1/test/no', '1') });
    await expectCode(refused, 'FailedPrecondition');
    const failing = sn.remove('al', 'c', {
      alongside: async () => {
        throw new Error('the other write failed');
      },
    });
    await expect(failing).rejects.toThrow('the other write failed');
    expect(await db.view((tx) => tx.get('v1/test/no'))).toBeUndefined();
    expect((await sn.stat('al', 'c')).kind).toBe(Kind.Active);
    expect((await backendInfos()).map((i) => i.name)).toEqual(['al/3/p', 'al/4/c']);
  });

  it('leaves a deferred backend removal to the background, in order, until close', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const asked: string[] = [];
    // The backend, with removals held until the gate opens.
    const held = new Proxy(backend, {
      get(target, prop) {
        if (prop === 'remove')
          return async (key: string) => {
            asked.push(key);
            await gate;
            return target.remove(key);
          };
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const svc = new SnapshotService(db, new Map([['native', held]]), { publish: () => {} });
    const s = svc.snapshotter('native');
    await s.prepare('d', 'base-k', '');
    await s.commit('d', 'base', 'base-k');
    await s.prepare('d', 'child', 'base');

    await s.remove('d', 'child', { deferBackend: true }); // answers with the backend's still there
    await expectCode(s.stat('d', 'child'), 'NotFound');
    const parent = s.remove('d', 'base'); // waits for the child's backend removal
    let closed = false;
    const closing = svc.close().then(() => (closed = true));
    await new Promise((r) => setImmediate(r));
    expect(closed).toBe(false);
    expect((await backendInfos()).map((i) => i.name)).toEqual(['d/2/base', 'd/3/child']);

    open();
    await parent;
    await closing;
    expect(asked).toEqual(['d/3/child', 'd/2/base']);
    expect(await backendInfos()).toEqual([]);
  });

  it('reports usage and the kind of each snapshot', async () => {
    await sn.prepare('u', 'k', '');
    const u = await sn.usage('u', 'k');
    expect(u.inodes).toBeGreaterThanOrEqual(1);
    await expectCode(sn.usage('u', 'missing'), 'NotFound');
  });
});
