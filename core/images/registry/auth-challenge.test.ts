import { describe, expect, it } from 'vitest';
import { parseWWWAuthenticate } from './auth-challenge.js';

describe('parseWWWAuthenticate', () => {
  it('reads a bearer challenge with realm, service and scope', () => {
    expect(
      parseWWWAuthenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/busybox:pull',
        },
      },
    ]);
  });

  it('reads a basic challenge', () => {
    expect(parseWWWAuthenticate('Basic realm="berth-test"')).toEqual([
      { scheme: 'basic', params: { realm: 'berth-test' } },
    ]);
  });

  it('separates several challenges in one header, token and quoted values', () => {
    expect(
      parseWWWAuthenticate(
        'Basic realm="a, b", Bearer realm=https://t/x , service=svc,error="insufficient_scope"',
      ),
    ).toEqual([
      { scheme: 'basic', params: { realm: 'a, b' } },
      {
        scheme: 'bearer',
        params: { realm: 'https://t/x', service: 'svc', error: 'insufficient_scope' },
      },
    ]);
  });

  it('unescapes quoted pairs and lower-cases names, keeps scopes with spaces', () => {
    expect(
      parseWWWAuthenticate('BEARER Realm="a\\"b", Scope="repository:a:pull repository:b:pull"'),
    ).toEqual([
      { scheme: 'bearer', params: { realm: 'a"b', scope: 'repository:a:pull repository:b:pull' } },
    ]);
  });

  it('takes several header values and tolerates junk', () => {
    expect(parseWWWAuthenticate(['Basic realm=x', 'Negotiate', ', ,'])).toEqual([
      { scheme: 'basic', params: { realm: 'x' } },
      { scheme: 'negotiate', params: {} },
    ]);
    expect(parseWWWAuthenticate(undefined)).toEqual([]);
    expect(parseWWWAuthenticate('realm="orphan"')).toEqual([]);
    expect(parseWWWAuthenticate('Bearer realm="unterminated')).toEqual([
      { scheme: 'bearer', params: { realm: 'unterminated' } },
    ]);
  });
});
