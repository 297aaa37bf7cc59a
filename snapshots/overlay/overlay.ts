import { chown, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { DirSnapshotter } from '../dir-snapshotter.js';
import type { SnapshotRecord } from '../storage/transaction.js';
import { Kind, type Mount } from '../../core/snapshots/types.js';
import { type OverlayLayout, overlayMounts } from './mounts.js';
import { checkOverlaySupport, overlayIndexParameterExists } from './support.js';

export interface OverlayOptions {
  /** Probe overlayfs with a real mount first (default true). */
  checkSupport?: boolean;
  /** Pass index=off in overlay options (default: when the module has the parameter). */
  indexOff?: boolean;
}

/**
 * overlayfs snapshotter: `<root>/snapshots/<id>/{fs,work}`. Active snapshots
 * write to their own fs (upperdir) over their parents' fs dirs.
 */
export class OverlaySnapshotter extends DirSnapshotter {
  private readonly layout: OverlayLayout;

  private constructor(
    root: string,
    store: Awaited<ReturnType<typeof DirSnapshotter.openStore>>,
    indexOff: boolean,
  ) {
    super(root, store);
    this.layout = {
      upperPath: (id) => path.join(this.snapshotDir(id), 'fs'),
      workPath: (id) => path.join(this.snapshotDir(id), 'work'),
      indexOff,
    };
  }

  static async open(root: string, opts: OverlayOptions = {}): Promise<OverlaySnapshotter> {
    if (opts.checkSupport ?? true) await checkOverlaySupport(root);
    const store = await DirSnapshotter.openStore(root);
    return new OverlaySnapshotter(root, store, opts.indexOff ?? overlayIndexParameterExists());
  }

  protected fsDir(id: string): string {
    return this.layout.upperPath(id);
  }

  protected async populate(dir: string, s: SnapshotRecord): Promise<void> {
    const fs = path.join(dir, 'fs');
    await mkdir(fs, { mode: 0o755 });
    if (s.kind === Kind.Active) await mkdir(path.join(dir, 'work'), { mode: 0o711 });
    if (s.parentIds.length > 0) {
      // The merged root takes the upper dir's owner: keep the parent's.
      const st = await stat(this.layout.upperPath(s.parentIds[0]!));
      await chown(fs, st.uid, st.gid);
    }
  }

  protected mountsFor(s: SnapshotRecord): Mount[] {
    return overlayMounts(s, this.layout);
  }
}
