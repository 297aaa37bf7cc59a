import { Kind, type Mount } from '../../core/snapshots/types.js';

export interface OverlayLayout {
  /** `<root>/snapshots/<id>/fs` */
  upperPath(id: string): string;
  /** `<root>/snapshots/<id>/work` */
  workPath(id: string): string;
  /** Whether to pass index=off (the overlay module has an index parameter). */
  indexOff: boolean;
}

/**
 * The mounts of an overlay snapshot, as containerd's overlay snapshotter
 * returns them. lowerdir lists the nearest parent first: overlayfs treats the
 * leftmost lower layer as the top one.
 */
export function overlayMounts(
  s: { id: string; kind: Kind; parentIds: readonly string[] },
  layout: OverlayLayout,
): Mount[] {
  if (s.parentIds.length === 0) {
    // Overlay needs at least one lower layer; a base snapshot is its own tree.
    return [
      {
        type: 'bind',
        source: layout.upperPath(s.id),
        options: [s.kind === Kind.View ? 'ro' : 'rw', 'rbind'],
      },
    ];
  }
  if (s.kind === Kind.View && s.parentIds.length === 1) {
    return [{ type: 'bind', source: layout.upperPath(s.parentIds[0]!), options: ['ro', 'rbind'] }];
  }
  const options: string[] = [];
  if (layout.indexOff) options.push('index=off');
  if (s.kind === Kind.Active) {
    options.push(`workdir=${layout.workPath(s.id)}`, `upperdir=${layout.upperPath(s.id)}`);
  }
  options.push(`lowerdir=${s.parentIds.map((id) => layout.upperPath(id)).join(':')}`);
  return [{ type: 'overlay', source: 'overlay', options }];
}
