import { describe, expect, it } from 'vitest';
import type { Lease, LeaseResource } from '../leases.js';
import { labelReferences, snapshotId } from './labels.js';
import { mark, type NamespaceState, type SnapshotNode } from './mark.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const NOW = new Date('2025-06-01T12:00:00Z');
const HOUR = 3_600_000;

function state(parts: Partial<NamespaceState> = {}): NamespaceState {
  return {
    content: new Map(),
    snapshots: new Map(),
    images: [],
    containers: [],
    leases: [],
    ingests: [],
    ...parts,
  };
}

type SnapshotSpec = Omit<SnapshotNode, 'labels'> & { labels?: SnapshotNode['labels'] };

function snaps(...list: SnapshotSpec[]): Map<string, SnapshotNode> {
  return new Map(list.map((s) => [snapshotId(s.snapshotter, s.key), { labels: {}, ...s }]));
}

function lease(id: string, labels: Record<string, string>, resources: LeaseResource[]) {
  const l: Lease = { id, labels, createdAt: new Date(0) };
  return { lease: l, resources };
}

const run = (s: NamespaceState) => mark(s, { now: NOW, ingestExpiryMs: 24 * HOUR });
const sorted = (s: Set<string>) => [...s].sort();

describe('label references', () => {
  it('reads content refs with and without a suffix and snapshot refs per snapshotter', () => {
    expect(
      labelReferences({
        'containerd.io/gc.ref.content': d('a'),
        'containerd.io/gc.ref.content.l.0': d('b'),
        'containerd.io/gc.ref.contentx': d('c'), // not a ref: no '.' after the prefix
        'containerd.io/gc.ref.snapshot.overlayfs': 'chain-1',
        'containerd.io/gc.ref.snapshot.native/extra': 'chain-2',
        'containerd.io/gc.ref.snapshot.': 'nothing',
        'containerd.io/gc.ref.content.empty': '',
        'containerd.io/uncompressed': d('d'),
      }),
    ).toEqual([
      { type: 'content', digest: d('a') },
      { type: 'content', digest: d('b') },
      { type: 'snapshot', snapshotter: 'overlayfs', key: 'chain-1' },
      { type: 'snapshot', snapshotter: 'native', key: 'chain-2' },
    ]);
  });
});

describe('mark', () => {
  it('collects everything when there are no roots', () => {
    const live = run(
      state({
        content: new Map([[d('a'), {}]]),
        snapshots: snaps({ snapshotter: 'native', key: 'k', parent: '' }),
      }),
    );
    expect(live.content.size + live.snapshots.size + live.ingests.size).toBe(0);
  });

  it('keeps an image target and everything its labels reach, transitively', () => {
    const live = run(
      state({
        content: new Map<string, Record<string, string>>([
          [d('1'), { 'containerd.io/gc.ref.content.m.0': d('2') }], // index -> manifest
          [
            d('2'),
            {
              'containerd.io/gc.ref.content.config': d('3'),
              'containerd.io/gc.ref.content.l.0': d('4'),
            },
          ],
          [d('3'), { 'containerd.io/gc.ref.snapshot.native': 'chain-2' }],
          [d('4'), {}],
          [d('5'), {}], // unreferenced
          [d('6'), { 'containerd.io/gc.ref.content': d('6') }], // self-cycle, unreferenced
        ]),
        snapshots: snaps(
          { snapshotter: 'native', key: 'chain-1', parent: '' },
          { snapshotter: 'native', key: 'chain-2', parent: 'chain-1' },
          { snapshotter: 'native', key: 'other', parent: 'chain-1' },
        ),
        images: [{ target: d('1'), labels: {} }],
      }),
    );
    expect(sorted(live.content)).toEqual([d('1'), d('2'), d('3'), d('4')]);
    expect(sorted(live.snapshots)).toEqual(['native/chain-1', 'native/chain-2']);
  });

  it('image and container labels are roots too; dead edges are ignored', () => {
    const live = run(
      state({
        content: new Map([
          [d('a'), {}],
          [d('b'), {}],
        ]),
        snapshots: snaps(
          { snapshotter: 'overlayfs', key: 'base', parent: '' },
          { snapshotter: 'overlayfs', key: 'rw', parent: 'base' },
          { snapshotter: 'native', key: 'extra', parent: '' },
        ),
        images: [
          { target: d('f'), labels: { 'containerd.io/gc.ref.content.x': d('a') } }, // target missing
        ],
        containers: [
          {
            snapshotter: 'overlayfs',
            snapshotKey: 'rw',
            labels: { 'containerd.io/gc.ref.snapshot.native': 'extra' },
          },
          { snapshotter: '', snapshotKey: '', labels: {} },
          { snapshotter: 'overlayfs', snapshotKey: 'gone', labels: {} },
        ],
      }),
    );
    expect(sorted(live.content)).toEqual([d('a')]);
    expect(sorted(live.snapshots)).toEqual(['native/extra', 'overlayfs/base', 'overlayfs/rw']);
  });

  it('gc.root labels on content and snapshots are roots whose refs are followed', () => {
    const live = run(
      state({
        content: new Map<string, Record<string, string>>([
          [d('a'), { 'containerd.io/gc.root': 'true', 'containerd.io/gc.ref.content': d('b') }],
          [d('b'), {}],
          [d('c'), {}],
        ]),
        snapshots: snaps(
          { snapshotter: 'native', key: 'p', parent: '' },
          {
            snapshotter: 'native',
            key: 'r',
            parent: 'p',
            labels: { 'containerd.io/gc.root': 'yes', 'containerd.io/gc.ref.content.x': d('c') },
          },
        ),
      }),
    );
    expect(sorted(live.content)).toEqual([d('a'), d('b'), d('c')]);
    expect(sorted(live.snapshots)).toEqual(['native/p', 'native/r']);
  });

  it('unexpired leases protect their resources; expired ones are reported and protect nothing', () => {
    const live = run(
      state({
        content: new Map<string, Record<string, string>>([
          [d('a'), { 'containerd.io/gc.ref.content': d('b') }],
          [d('b'), {}],
          [d('c'), {}],
        ]),
        snapshots: snaps(
          { snapshotter: 'native', key: 'p', parent: '' },
          { snapshotter: 'native', key: 'k', parent: 'p' },
        ),
        leases: [
          lease('forever', {}, [
            { id: d('a'), type: 'content' },
            { id: 'k', type: 'snapshots/native' },
            { id: 'upload-1', type: 'ingests' },
          ]),
          lease('later', { 'containerd.io/gc.expire': '2025-06-01T13:00:00Z' }, []),
          lease('past', { 'containerd.io/gc.expire': '2025-06-01T11:00:00Z' }, [
            { id: d('c'), type: 'content' },
            { id: 'upload-2', type: 'ingests' },
          ]),
        ],
        ingests: [
          { ref: 'upload-1', updatedAt: new Date(0), leased: true },
          { ref: 'upload-2', updatedAt: NOW, leased: true },
        ],
      }),
    );
    expect(sorted(live.content)).toEqual([d('a'), d('b')]);
    expect(sorted(live.snapshots)).toEqual(['native/k', 'native/p']);
    expect(sorted(live.ingests)).toEqual(['upload-1']);
    expect(live.expiredLeases).toEqual(['past']);
  });

  it('a flat lease keeps exactly its resources (and snapshot parents), not their label refs', () => {
    const s = state({
      content: new Map<string, Record<string, string>>([
        [d('a'), { 'containerd.io/gc.ref.content': d('b') }],
        [d('b'), {}],
      ]),
      snapshots: snaps(
        { snapshotter: 'native', key: 'p', parent: '' },
        {
          snapshotter: 'native',
          key: 'k',
          parent: 'p',
          labels: { 'containerd.io/gc.ref.content': d('b') },
        },
      ),
      leases: [
        lease('flat', { 'containerd.io/gc.flat': 'true' }, [
          { id: d('a'), type: 'content' },
          { id: 'k', type: 'snapshots/native' },
        ]),
      ],
    });
    let live = run(s);
    expect(sorted(live.content)).toEqual([d('a')]);
    expect(sorted(live.snapshots)).toEqual(['native/k', 'native/p']);

    // Reached from a real root as well, the same node's refs are followed.
    live = run({ ...s, images: [{ target: d('a'), labels: {} }] });
    expect(sorted(live.content)).toEqual([d('a'), d('b')]);
  });

  it('ingests without a lease live until the expiry after their last write', () => {
    const live = run(
      state({
        ingests: [
          { ref: 'fresh', updatedAt: new Date(NOW.getTime() - HOUR), leased: false },
          { ref: 'stale', updatedAt: new Date(NOW.getTime() - 25 * HOUR), leased: false },
          // Opened under a lease that is gone: age does not matter.
          { ref: 'orphaned', updatedAt: NOW, leased: true },
        ],
      }),
    );
    expect(sorted(live.ingests)).toEqual(['fresh']);
  });

  it('snapshots of different snapshotters with one key are separate nodes', () => {
    const live = run(
      state({
        snapshots: snaps(
          { snapshotter: 'native', key: 'k', parent: '' },
          { snapshotter: 'overlayfs', key: 'k', parent: '' },
        ),
        containers: [{ snapshotter: 'overlayfs', snapshotKey: 'k', labels: {} }],
      }),
    );
    expect(sorted(live.snapshots)).toEqual(['overlayfs/k']);
  });
});
