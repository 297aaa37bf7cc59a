import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContainerConfig } from '../../api/gen/cri/runtime/v1/api.js';
import type { ResolvedUser } from '../../core/oci/index.js';
import { resolveContainerUser } from './container-user.js';
import type { CriImage } from './image-index.js';

describe('resolveContainerUser', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-user-'));
    await mkdir(path.join(dir, 'rootfs', 'etc'), { recursive: true });
    await writeFile(path.join(dir, 'rootfs', 'etc', 'passwd'), 'web:x:1000:1000::/:/bin/sh\n');
    await writeFile(path.join(dir, 'rootfs', 'etc', 'group'), 'web:x:1000:\nextra:x:2000:web\n');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const image = (users = new Map<string, ResolvedUser>()) =>
    ({ config: { User: 'web' }, users }) as unknown as CriImage;
  const config = (sc: Record<string, unknown> = {}) =>
    ContainerConfig.fromJSON({ linux: { securityContext: sc } });

  it('reads the rootfs once per image and user, then answers from the image', async () => {
    const img = image();
    const rootfs = [{ type: 'bind', source: path.join(dir, 'rootfs'), options: ['rbind'] }];
    const first = await resolveContainerUser(config(), img, rootfs, dir);
    expect(first).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 2000] });
    expect(img.users.get('web')).toEqual(first);

    // No rootfs at all now: only the remembered answer can serve it.
    await rm(path.join(dir, 'rootfs'), { recursive: true });
    const again = await resolveContainerUser(
      config({ supplementalGroups: ['3000'] }),
      img,
      [],
      dir,
    );
    expect(again).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 2000, 3000] });
    expect(img.users.get('web')).toEqual(first); // the pod's extra groups are not remembered
  });
});
