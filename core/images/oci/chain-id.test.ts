import { describe, expect, it } from 'vitest';
import { chainId, chainIds } from './chain-id.js';
import { childGCLabels, snapshotGCLabel } from './gc-labels.js';
import { MediaType } from './media-types.js';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const C = `sha256:${'c'.repeat(64)}`;

describe('chain IDs', () => {
  it('is the diff ID for one layer and a hash of "<parent> <diff>" above it', () => {
    // printf 'sha256:aaa… sha256:bbb…' | sha256sum
    const ab = 'sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c';
    expect(chainIds([A])).toEqual([A]);
    expect(chainIds([A, B])).toEqual([A, ab]);
    expect(chainId([A, B])).toBe(ab);
    expect(chainIds([A, B, C])[2]).not.toBe(chainIds([B, A, C])[2]);
    expect(chainId([])).toBe('');
  });

  it('refuses malformed diff IDs', () => {
    expect(() => chainIds(['sha256:xyz'])).toThrow(/invalid/);
    expect(() => chainIds([`md5:${'a'.repeat(32)}`])).toThrow(/unsupported digest algorithm/);
  });
});

describe('GC reference labels', () => {
  it('numbers layers and manifests per key, and names the config', () => {
    expect(
      childGCLabels([
        { mediaType: MediaType.OCIConfig, digest: A },
        { mediaType: MediaType.OCILayerGzip, digest: B },
        { mediaType: MediaType.DockerLayer, digest: C },
      ]),
    ).toEqual({
      'containerd.io/gc.ref.content.config': A,
      'containerd.io/gc.ref.content.l.0': B,
      'containerd.io/gc.ref.content.l.1': C,
    });
    expect(
      childGCLabels([
        { mediaType: MediaType.OCIManifest, digest: A },
        { mediaType: MediaType.DockerManifest, digest: B },
        { mediaType: MediaType.OCIIndex, digest: C },
      ]),
    ).toEqual({
      'containerd.io/gc.ref.content.m.0': A,
      'containerd.io/gc.ref.content.m.1': B,
      'containerd.io/gc.ref.content.m.2': C,
    });
    expect(snapshotGCLabel('overlayfs')).toBe('containerd.io/gc.ref.snapshot.overlayfs');
  });
});
