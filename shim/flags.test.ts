import { describe, expect, it } from 'vitest';
import { FlagError, formatServerFlags, parseFlags } from './flags.js';

describe('parseFlags', () => {
  it('reads the command line containerd uses for start', () => {
    const f = parseFlags([
      '-namespace',
      'k8s.io',
      '-address',
      '/run/containerd/containerd.sock',
      '-publish-binary',
      '/usr/bin/containerd',
      '-id',
      'abc',
      '-debug',
      'start',
    ]);
    expect(f).toMatchObject({
      namespace: 'k8s.io',
      address: '/run/containerd/containerd.sock',
      publishBinary: '/usr/bin/containerd',
      id: 'abc',
      debug: true,
      args: ['start'],
    });
  });

  it('accepts --x, -x=v and explicit booleans, and stops at the first non-flag', () => {
    const f = parseFlags([
      '--namespace=ns',
      '--id',
      'c1',
      '-debug=false',
      '-bundle=/b',
      'delete',
      '-x',
    ]);
    expect(f).toMatchObject({
      namespace: 'ns',
      id: 'c1',
      debug: false,
      bundle: '/b',
      args: ['delete', '-x'],
    });
    expect(parseFlags(['-id', 'a', '--', '-notaflag']).args).toEqual(['-notaflag']);
    expect(parseFlags([]).args).toEqual([]);
  });

  it('rejects what Go flag rejects', () => {
    expect(() => parseFlags(['-nope'])).toThrow(FlagError);
    expect(() => parseFlags(['-id'])).toThrow(/needs an argument/);
    expect(() => parseFlags(['-debug=maybe'])).toThrow(/invalid boolean/);
    expect(() => parseFlags(['---id', 'x'])).toThrow(/bad flag syntax/);
  });

  it('round-trips the server flags', () => {
    const base = {
      namespace: 'n',
      address: '/a',
      publishBinary: '',
      id: 'i',
      bundle: '/b',
      socket: '/s',
      debug: true,
    };
    const back = parseFlags(formatServerFlags(base));
    expect(back).toMatchObject({ ...base, args: [] });
  });
});
