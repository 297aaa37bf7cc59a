import { describe, expect, it } from 'vitest';
import { Options } from '../../api/gen/containerd/runc/v1/oci.js';
import { packAny, unpackAny } from '../protobuf/typeurl.js';
import { RUNC_OPTIONS_TYPE_URL, takesRuncOptions, withRuncRoot } from './runc-root.js';

const decode = (a: ReturnType<typeof withRuncRoot>) => unpackAny(a, RUNC_OPTIONS_TYPE_URL, Options);

describe('withRuncRoot', () => {
  it('adds the root when there are no options', () => {
    expect(decode(withRuncRoot(undefined, '/s/runc'))?.root).toBe('/s/runc');
  });

  it('keeps every other option and fills an empty root', () => {
    const given = packAny(RUNC_OPTIONS_TYPE_URL, Options, {
      ...Options.fromJSON({}),
      binaryName: '/usr/bin/crun',
      systemdCgroup: true,
    });
    const out = decode(withRuncRoot(given, '/s/runc'));
    expect(out).toMatchObject({
      binaryName: '/usr/bin/crun',
      systemdCgroup: true,
      root: '/s/runc',
    });
  });

  it('leaves a root the caller chose, and options of another type', () => {
    const own = packAny(RUNC_OPTIONS_TYPE_URL, Options, {
      ...Options.fromJSON({}),
      root: '/mine',
    });
    expect(withRuncRoot(own, '/s/runc')).toBe(own);
    const other = { typeUrl: 'io.example.Options', value: new Uint8Array([1, 2]) };
    expect(withRuncRoot(other, '/s/runc')).toBe(other);
  });

  it('recognises the prefixed type URL', () => {
    const prefixed = {
      ...packAny(RUNC_OPTIONS_TYPE_URL, Options, Options.fromJSON({})),
      typeUrl: `types.googleapis.com/${RUNC_OPTIONS_TYPE_URL}`,
    };
    expect(decode(withRuncRoot(prefixed, '/s/runc'))?.root).toBe('/s/runc');
  });
});

describe('takesRuncOptions', () => {
  it('is true for runc runtimes and Berth’s shim only', () => {
    expect(takesRuncOptions('io.containerd.runc.v2', false)).toBe(true);
    expect(takesRuncOptions('io.containerd.berth.v2', true)).toBe(true);
    expect(takesRuncOptions('io.containerd.kata.v2', false)).toBe(false);
  });
});
