// What overlayfs and native share: records in a MetaStore, one directory per
// snapshot under <root>/snapshots/<id>, created under a temporary name and
// renamed into place inside the record transaction, so a crash leaves at
// worst a directory without a record, which cleanup() removes. A removed
// snapshot's directory moves to <root>/trash and is deleted in the background,
// as containerd's overlayfs does: a removal does not wait on deleting a tree.

import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { diskUsage } from './disk-usage.js';
import { MetaStore } from './storage/metastore.js';
import type { SnapshotRecord } from './storage/transaction.js';
import {
  type Info,
  Kind,
  type Mount,
  type Snapshotter,
  type SnapshotOptions,
  type Usage,
} from '../core/snapshots/types.js';

export abstract class DirSnapshotter implements Snapshotter {
  protected readonly snapshotsDir: string;
  private readonly trashDir: string;
  /** Background deletions of removed snapshots' directories. */
  private readonly deleting = new Set<Promise<void>>();

  protected constructor(
    readonly root: string,
    protected readonly store: MetaStore,
  ) {
    this.snapshotsDir = path.join(root, 'snapshots');
    this.trashDir = path.join(root, 'trash');
  }

  /** Opens (creating) the record database and the snapshots and trash directories under root. */
  protected static async openStore(root: string): Promise<MetaStore> {
    await mkdir(path.join(root, 'snapshots'), { recursive: true, mode: 0o700 });
    await mkdir(path.join(root, 'trash'), { recursive: true, mode: 0o700 });
    return MetaStore.open(path.join(root, 'metadata.db'));
  }

  /** Directory of snapshot `id`. */
  protected snapshotDir(id: string): string {
    return path.join(this.snapshotsDir, id);
  }

  /** The tree a snapshot's files live in (measured for usage). */
  protected abstract fsDir(id: string): string;
  /** Fills the new snapshot's (still temporary) directory. */
  protected abstract populate(dir: string, s: SnapshotRecord): Promise<void>;
  protected abstract mountsFor(s: SnapshotRecord): Mount[];

  stat(key: string): Promise<Info> {
    return this.store.view((tx) => tx.getInfo(key));
  }

  update(info: Pick<Info, 'name'> & Partial<Info>, fieldpaths?: readonly string[]): Promise<Info> {
    return this.store.update((tx) => tx.updateInfo(info, fieldpaths));
  }

  async usage(key: string): Promise<Usage> {
    const { id, kind, usage } = await this.store.view((tx) => tx.getRecordedUsage(key));
    return kind === Kind.Active ? diskUsage(this.fsDir(id)) : usage;
  }

  async mounts(key: string): Promise<Mount[]> {
    return this.mountsFor(await this.store.view((tx) => tx.getSnapshot(key)));
  }

  prepare(key: string, parent: string, opts?: SnapshotOptions): Promise<Mount[]> {
    return this.create(Kind.Active, key, parent, opts);
  }

  view(key: string, parent: string, opts?: SnapshotOptions): Promise<Mount[]> {
    return this.create(Kind.View, key, parent, opts);
  }

  private async create(
    kind: Kind,
    key: string,
    parent: string,
    opts?: SnapshotOptions,
  ): Promise<Mount[]> {
    let temp: string | undefined;
    let placed: string | undefined;
    try {
      return await this.store.update(async (tx) => {
        const s = await tx.createSnapshot(kind, key, parent, opts?.labels);
        temp = await mkdtemp(path.join(this.snapshotsDir, 'new-'));
        await this.populate(temp, s);
        const dir = this.snapshotDir(s.id);
        // Only a crash between an earlier rename and its commit leaves this.
        await rm(dir, { recursive: true, force: true });
        await rename(temp, dir);
        temp = undefined;
        placed = dir;
        return this.mountsFor(s);
      });
    } catch (err) {
      // The record was not committed: nothing may refer to these directories.
      if (temp) await rm(temp, { recursive: true, force: true });
      if (placed) await rm(placed, { recursive: true, force: true });
      throw err;
    }
  }

  async commit(name: string, key: string, opts?: SnapshotOptions): Promise<void> {
    await this.store.update(async (tx) => {
      const s = await tx.getSnapshot(key);
      const usage =
        s.kind === Kind.Active ? await diskUsage(this.fsDir(s.id)) : { size: 0, inodes: 0 };
      await tx.commitActive(key, name, usage, opts?.labels);
    });
  }

  async remove(key: string): Promise<void> {
    const { id } = await this.store.update((tx) => tx.remove(key));
    // The record is gone; a directory that survives a failed removal (or a
    // crash before its deletion) is an orphan that cleanup() collects.
    const dir = this.snapshotDir(id);
    const trash = path.join(this.trashDir, `${id}-${randomBytes(4).toString('hex')}`);
    try {
      await rename(dir, trash);
    } catch {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      return;
    }
    const deleting: Promise<void> = rm(trash, { recursive: true, force: true })
      .catch(() => undefined)
      .finally(() => this.deleting.delete(deleting));
    this.deleting.add(deleting);
  }

  async walk(
    fn: (info: Info) => void | Promise<void>,
    filter?: (info: Info) => boolean,
  ): Promise<void> {
    const all = await this.store.view((tx) => tx.list());
    for (const { info } of all) if (!filter || filter(info)) await fn(info);
  }

  async cleanup(): Promise<void> {
    // Held as a write so no snapshot is being created while directories are judged.
    await this.store.update(async (tx) => {
      const ids = await tx.ids();
      for (const name of await readdir(this.snapshotsDir)) {
        if (!ids.has(name))
          await rm(path.join(this.snapshotsDir, name), { recursive: true, force: true });
      }
    });
    // Deleted in the background already, unless a crash or a failure left them.
    for (const name of await readdir(this.trashDir))
      await rm(path.join(this.trashDir, name), { recursive: true, force: true }).catch(
        () => undefined,
      );
  }

  async close(): Promise<void> {
    await Promise.all(this.deleting);
    return this.store.close();
  }
}
