// The user a container runs as: the image's USER unless the security context
// names one, resolved against the container's own /etc/passwd and /etc/group
// (its prepared snapshot, mounted read-only for the lookup; the first time per
// image and user only, as a new container's rootfs is still the image's).

import fs from 'node:fs/promises';
import path from 'node:path';
import { errFailedPrecondition, errInvalidArgument } from '../../core/errors/catalogue.js';
import { mountAll, unmountAll } from '../../core/mount/index.js';
import { type ResolvedUser, resolveUser } from '../../core/oci/index.js';
import type { ContainerConfig } from '../../api/gen/cri/runtime/v1/api.js';
import type { CriImage } from './image-index.js';

type SnapshotMount = { type: string; source: string; options: string[] };

/** Distinct users remembered per image; kubelets use a handful. */
const MAX_CACHED_USERS = 64;

export async function resolveContainerUser(
  config: ContainerConfig,
  image: CriImage,
  mounts: SnapshotMount[],
  /** Where the temporary mount point goes. */
  tmpDir: string,
): Promise<ResolvedUser> {
  const sc = config.linux?.securityContext;
  let userString = image.config.User ?? '';
  if (sc?.runAsUser) userString = String(sc.runAsUser.value);
  else if (sc?.runAsUsername) userString = sc.runAsUsername;
  if (sc?.runAsGroup) {
    if (!sc.runAsUser && !sc.runAsUsername) {
      throw errInvalidArgument(
        'config.linux.security_context.run_as_group needs run_as_user or run_as_username',
      );
    }
    userString = `${userString.split(':')[0]}:${sc.runAsGroup.value}`;
  }
  // Resolved once per image and user (CriImage.users): the rootfs is still the image's.
  let user = image.users.get(userString);
  if (!user) {
    user = await withRootfs(mounts, tmpDir, (root) => resolveUser(root, userString));
    if (image.users.size >= MAX_CACHED_USERS) image.users.clear();
    image.users.set(userString, user);
  }
  const extra = (sc?.supplementalGroups ?? []).map(Number);
  return { ...user, additionalGids: [...new Set([...user.additionalGids, ...extra])] };
}

/** Mounts the prepared snapshot read-only on a temporary directory for `fn`. */
async function withRootfs<T>(
  mounts: SnapshotMount[],
  tmpDir: string,
  fn: (root: string) => Promise<T>,
): Promise<T> {
  const m = mounts[0];
  if (!m) throw errFailedPrecondition('snapshot has no mounts');
  if (mounts.length === 1 && m.type === 'bind') return fn(m.source);
  const dir = await fs.mkdtemp(path.join(tmpDir, 'rootfs-'));
  try {
    // The snapshotters' own mounting (long lowerdir lists included), read-only.
    mountAll(
      mounts.map((x) => ({ ...x, options: [...x.options.filter((o) => o !== 'rw'), 'ro'] })),
      dir,
    );
    try {
      return await fn(dir);
    } finally {
      unmountAll(dir);
    }
  } finally {
    await fs.rmdir(dir).catch(() => {});
  }
}
