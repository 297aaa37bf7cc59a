import { chmod } from 'node:fs/promises';
import { copyTree } from '../copy-tree.js';
import { DirSnapshotter } from '../dir-snapshotter.js';
import type { SnapshotRecord } from '../storage/transaction.js';
import { Kind, type Mount } from '../../core/snapshots/types.js';

/**
 * Copy-based snapshotter for filesystems without overlay support:
 * `<root>/snapshots/<id>` is the whole tree, a full copy of the parent's.
 */
export class NativeSnapshotter extends DirSnapshotter {
  static async open(root: string): Promise<NativeSnapshotter> {
    return new NativeSnapshotter(root, await DirSnapshotter.openStore(root));
  }

  protected fsDir(id: string): string {
    return this.snapshotDir(id);
  }

  protected async populate(dir: string, s: SnapshotRecord): Promise<void> {
    // mkdtemp made it 0700; a base snapshot's root is an ordinary 0755 directory.
    await chmod(dir, 0o755);
    if (s.parentIds.length > 0) await copyTree(this.snapshotDir(s.parentIds[0]!), dir);
  }

  protected mountsFor(s: SnapshotRecord): Mount[] {
    return [
      {
        type: 'bind',
        source: this.snapshotDir(s.id),
        options: [s.kind === Kind.View ? 'ro' : 'rw', 'rbind'],
      },
    ];
  }
}
