import { describe, expect, it } from 'vitest';
import { isBerthError } from '../../core/errors/catalogue.js';
import { type LookupImage, catalogOf, lookupImage } from './image-lookup.js';

const hex = (c: string, prefix = '') => prefix + c.repeat(64 - prefix.length);

// busybox pulled by tag through a multi-platform index: the record points at the
// index, the image's manifest for this host is another digest.
const busybox: LookupImage = {
  id: `sha256:${hex('1', 'abc')}`,
  names: ['docker.io/library/busybox:1.36', 'docker.io/library/busybox:latest'],
  targets: {
    'docker.io/library/busybox:1.36': `sha256:${hex('2')}`,
    'docker.io/library/busybox:latest': `sha256:${hex('2')}`,
  },
  manifestDigest: `sha256:${hex('3')}`,
};
const pause: LookupImage = {
  id: `sha256:${hex('4', 'abd')}`,
  names: ['registry.k8s.io/pause:3.9', `registry.k8s.io/pause@sha256:${hex('5')}`],
  targets: {
    'registry.k8s.io/pause:3.9': `sha256:${hex('5')}`,
    [`registry.k8s.io/pause@sha256:${hex('5')}`]: `sha256:${hex('5')}`,
  },
  manifestDigest: `sha256:${hex('5')}`,
};
const images = [busybox, pause];
const find = (ref: string) => lookupImage(catalogOf(images), ref)?.id;

describe('CRI image references', () => {
  it('resolves names, short names and tags with docker.io/library filled in', () => {
    for (const ref of [
      'docker.io/library/busybox:latest',
      'busybox',
      'busybox:latest',
      'library/busybox:1.36',
      'docker.io/busybox:1.36',
      'index.docker.io/library/busybox',
    ]) {
      expect(find(ref), ref).toBe(busybox.id);
    }
    expect(find('registry.k8s.io/pause:3.9')).toBe(pause.id);
  });

  it('resolves repo@digest by the recorded target and by the manifest for this host', () => {
    expect(find(`docker.io/library/busybox@sha256:${hex('2')}`)).toBe(busybox.id);
    expect(find(`busybox@sha256:${hex('3')}`)).toBe(busybox.id);
    expect(find(`busybox:1.36@sha256:${hex('2')}`)).toBe(busybox.id);
    expect(find(`registry.k8s.io/pause@sha256:${hex('5')}`)).toBe(pause.id);
  });

  it('does not match a digest of another repository or an unknown digest', () => {
    expect(find(`docker.io/library/alpine@sha256:${hex('2')}`)).toBeUndefined();
    expect(find(`busybox@sha256:${hex('9')}`)).toBeUndefined();
  });

  it('resolves full and short ids, with or without sha256:', () => {
    expect(find(busybox.id)).toBe(busybox.id);
    expect(find(busybox.id.slice('sha256:'.length))).toBe(busybox.id);
    expect(find('abc111111111')).toBe(busybox.id);
    expect(find('sha256:abd4')).toBe(pause.id);
  });

  it('refuses an id prefix shared by several images, naming them', () => {
    let err: unknown;
    try {
      find('ab');
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toContain(busybox.id);
    expect((err as Error).message).toContain(pause.id);
  });

  it('finds nothing for unknown names, ids and invalid references', () => {
    for (const ref of ['', 'nope:1', 'sha256:ffff', 'Upper/Case', 'busybox:2']) {
      expect(find(ref), ref).toBeUndefined();
    }
  });

  it('prefers a name over an id prefix that happens to look the same', () => {
    const named: LookupImage = {
      id: `sha256:${hex('9')}`,
      names: ['docker.io/library/abc:latest'],
      targets: { 'docker.io/library/abc:latest': `sha256:${hex('8')}` },
      manifestDigest: `sha256:${hex('8')}`,
    };
    expect(lookupImage(catalogOf([...images, named]), 'abc')?.id).toBe(named.id);
  });

  it('matches a record stored under a short name', () => {
    const short: LookupImage = { ...busybox, names: ['busybox:1.36'], targets: {} };
    expect(lookupImage(catalogOf([short]), 'docker.io/library/busybox:1.36')).toBe(short);
  });
});
