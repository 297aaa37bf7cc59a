import { describe, expect, it } from 'vitest';
import { isBerthError } from '../../errors/catalogue.js';
import {
  familiarString,
  normalizeReference,
  objectOf,
  parseReference,
  repositoryName,
} from './reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox:1', 'docker.io/library/busybox:1'],
    ['user/app', 'docker.io/user/app:latest'],
    ['ghcr.io/org/team/app:v1.2_3', 'ghcr.io/org/team/app:v1.2_3'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app:dev', 'localhost:5000/app:dev'],
    ['127.0.0.1:5000/a/b', '127.0.0.1:5000/a/b:latest'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`quay.io/x/y:tag@${D}`, `quay.io/x/y:tag@${D}`],
    ['[::1]:5000/app:1', '[::1]:5000/app:1'],
    ['a__b/c-d.e:x', 'docker.io/a__b/c-d.e:x'],
  ])('%s → %s', (input, full) => {
    expect(normalizeReference(input)).toBe(full);
  });

  it('splits domain, path, tag and digest', () => {
    const r = parseReference(`127.0.0.1:5000/team/app:1.0@${D}`);
    expect(r).toEqual({ domain: '127.0.0.1:5000', path: 'team/app', tag: '1.0', digest: D });
    expect(repositoryName(r)).toBe('127.0.0.1:5000/team/app');
    expect(objectOf(r)).toBe(D);
    expect(objectOf(parseReference('x:7'))).toBe('7');
  });

  it('prints familiar names like docker does', () => {
    expect(familiarString(parseReference('docker.io/library/busybox:latest'))).toBe(
      'busybox:latest',
    );
    expect(familiarString(parseReference('user/app:1'))).toBe('user/app:1');
    expect(familiarString(parseReference('ghcr.io/a/b:1'))).toBe('ghcr.io/a/b:1');
  });

  it.each([
    '',
    'Busybox',
    'docker.io/Library/busybox',
    'busybox:',
    'busybox@sha256:abc',
    `busybox@sha256:${'g'.repeat(64)}`,
    `busybox@md5:${'a'.repeat(32)}`,
    'busy box',
    'a/-b',
    'registry.example/app:' + 't'.repeat(129),
    'x/' + 'a'.repeat(260),
    'host:port/app',
  ])('refuses %j', (input) => {
    let err: unknown;
    try {
      parseReference(input);
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'InvalidArgument')).toBe(true);
  });
});
