// Serving the stand-in images from one local registry: each upstream registry
// gets a prefix of its own there (`<local>/registry.k8s.io/pause:3.9`), and a
// hosts.toml per upstream sends pulls to that prefix over plain HTTP and
// never to the upstream itself.

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseReference } from '../../core/images/registry/reference.js';
import { seedImage } from '../helpers/registry.js';
import { STAND_INS, standInRegistries } from './stand-in-images.js';

/** Where `ref` lives in the local registry at `local` (`127.0.0.1:5000`). */
export function localRepository(local: string, ref: string): { repository: string; tag: string } {
  const r = parseReference(ref);
  if (!r.tag) throw new Error(`stand-in reference ${ref} has no tag`);
  return { repository: `${local}/${r.domain}/${r.path}`, tag: r.tag };
}

/** The hosts.toml for `registry`: the local registry's prefix for it is its only host. */
export function mirrorHostsToml(local: string, registry: string): string {
  return [
    '# critest stand-ins: served by the local registry, never by the upstream.',
    'capabilities = []',
    '',
    `[host."http://${local}/v2/${registry}"]`,
    '  capabilities = ["pull", "resolve"]',
    '  override_path = true',
    '',
  ].join('\n');
}

/** Writes `<dir>/<registry>/hosts.toml` for every registry the stand-ins name. */
export async function writeMirrorHosts(dir: string, local: string): Promise<void> {
  for (const registry of standInRegistries()) {
    await mkdir(path.join(dir, registry), { recursive: true });
    await writeFile(path.join(dir, registry, 'hosts.toml'), mirrorHostsToml(local, registry));
  }
}

/** Builds every stand-in and pushes it under each of its references. */
export async function pushStandIns(local: string, log = (_: string) => {}): Promise<void> {
  for (const s of STAND_INS) {
    const img = await s.build(s.refs[0]!);
    for (const ref of s.refs) {
      const { repository, tag } = localRepository(local, ref);
      await seedImage(img, repository, { tag });
      log(`${ref} -> ${repository}:${tag}`);
    }
  }
}
