import { describe, expect, it } from 'vitest';
import {
  allPlatforms,
  exactPlatforms,
  formatPlatform,
  hostArchitecture,
  normalizePlatform,
  onlyPlatform,
  parsePlatformSpecifier,
} from './platform.js';

describe('platform specifiers', () => {
  it('parses and normalises os/arch/variant', () => {
    expect(parsePlatformSpecifier('linux/amd64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatformSpecifier('linux/x86_64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatformSpecifier('linux/aarch64')).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(parsePlatformSpecifier('linux/arm64/v8')).toEqual({
      os: 'linux',
      architecture: 'arm64',
    });
    expect(parsePlatformSpecifier('linux/arm')).toEqual({
      os: 'linux',
      architecture: 'arm',
      variant: 'v7',
    });
    expect(parsePlatformSpecifier('linux/arm/6')).toEqual({
      os: 'linux',
      architecture: 'arm',
      variant: 'v6',
    });
    expect(parsePlatformSpecifier('Linux/AMD64/v3')).toEqual({
      os: 'linux',
      architecture: 'amd64',
      variant: 'v3',
    });
    expect(normalizePlatform({ os: 'linux', architecture: 'armhf' })).toEqual({
      os: 'linux',
      architecture: 'arm',
      variant: 'v7',
    });
    expect(parsePlatformSpecifier('linux').architecture).toBe(hostArchitecture());
    expect(parsePlatformSpecifier('arm64')).toMatchObject({ architecture: 'arm64' });
    expect(formatPlatform({ os: 'linux', architecture: 'arm', variant: '7' })).toBe('linux/arm/v7');
  });

  it('refuses nonsense', () => {
    for (const bad of [
      '',
      'linux/',
      'linux/amd64/v1/x',
      'plan10/amd64',
      'linux/z80',
      'a b',
      '../x',
    ])
      expect(() => parsePlatformSpecifier(bad), bad).toThrow(/invalid argument/);
  });
});

describe('platform matching', () => {
  it('amd64 runs older amd64 levels and 386, preferring the closest', () => {
    const m = onlyPlatform({ os: 'linux', architecture: 'amd64', variant: 'v3' });
    expect(m.match({ os: 'linux', architecture: 'amd64', variant: 'v3' })).toBe(true);
    expect(m.match({ os: 'linux', architecture: 'amd64', variant: 'v2' })).toBe(true);
    expect(m.match({ os: 'linux', architecture: 'amd64' })).toBe(true);
    expect(m.match({ os: 'linux', architecture: '386' })).toBe(true);
    expect(m.match({ os: 'linux', architecture: 'amd64', variant: 'v4' })).toBe(false);
    expect(m.match({ os: 'linux', architecture: 'arm64' })).toBe(false);
    expect(m.match({ os: 'windows', architecture: 'amd64' })).toBe(false);
    const ranked = [
      { os: 'linux', architecture: '386' },
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'amd64', variant: 'v3' },
    ].sort(m.compare);
    expect(ranked.map(formatPlatform)).toEqual(['linux/amd64/v3', 'linux/amd64', 'linux/386']);
  });

  it('arm64 (v8 implied) runs arm v7 and older; arm v7 runs v6 but not v8', () => {
    const arm64 = onlyPlatform({ os: 'linux', architecture: 'arm64' });
    expect(arm64.match({ os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(true);
    expect(arm64.match({ os: 'linux', architecture: 'aarch64' })).toBe(true);
    expect(arm64.match({ os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(true);
    expect(
      arm64.compare({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm' }),
    ).toBeLessThan(0);
    const v7 = onlyPlatform({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(v7.match({ os: 'linux', architecture: 'arm', variant: 'v6' })).toBe(true);
    expect(v7.match({ os: 'linux', architecture: 'arm' })).toBe(true);
    expect(v7.match({ os: 'linux', architecture: 'arm', variant: 'v8' })).toBe(false);
    expect(v7.match({ os: 'linux', architecture: 'arm64' })).toBe(false);
  });

  it('exact and all matchers', () => {
    const m = exactPlatforms({ os: 'linux', architecture: 'arm64' });
    expect(m.match({ os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(true);
    expect(m.match({ os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(false);
    expect(allPlatforms.match({ os: 'plan9', architecture: '386' })).toBe(true);
  });
});
