import { describe, expect, it } from 'vitest';
import { defaultSpec } from './default-spec.js';
import { generateDefaultSpec, generateSpec, validateSpec } from './generate.js';
import { withEnv, withHostname, withMounts, withProcessArgs, withRootfs } from './spec-opts.js';
import type { Spec } from './spec-types.js';

const invalid = expect.objectContaining({ code: 'InvalidArgument' });

describe('generateSpec', () => {
  it('applies options in order to a copy of the base', () => {
    const base = defaultSpec({ id: 'c1', namespace: 'default' });
    const before = JSON.stringify(base);
    const spec = generateSpec(
      [withProcessArgs('a'), withProcessArgs('b'), withHostname('h'), withEnv(['X=1'])],
      base,
    );
    expect(spec.process?.args).toEqual(['b']);
    expect(spec.hostname).toBe('h');
    expect(JSON.stringify(base)).toBe(before);
  });

  it('builds on the default spec', () => {
    const spec = generateDefaultSpec({ id: 'c2', namespace: 'k8s.io' }, [withRootfs('/b/rootfs')]);
    expect(spec.linux?.cgroupsPath).toBe('/k8s.io/c2');
    expect(spec.root?.path).toBe('/b/rootfs');
  });

  it('rejects relative mount destinations', () => {
    expect(() =>
      generateDefaultSpec({ id: 'c', namespace: 'n' }, [
        withMounts([{ destination: 'data', type: 'bind', source: '/x' }]),
      ]),
    ).toThrow(invalid);
  });
});

describe('validateSpec', () => {
  const valid = () => defaultSpec({ id: 'c', namespace: 'n' });
  const broken = (edit: (s: Spec) => void) => {
    const s = valid();
    edit(s);
    return () => validateSpec(s);
  };

  it('accepts the default spec', () => {
    expect(() => validateSpec(valid())).not.toThrow();
  });

  it('rejects unknown or duplicate namespaces', () => {
    expect(broken((s) => s.linux!.namespaces!.push({ type: 'net' as never }))).toThrow(invalid);
    expect(broken((s) => s.linux!.namespaces!.push({ type: 'pid' }))).toThrow(invalid);
    expect(broken((s) => (s.linux!.namespaces![0]!.path = 'proc/1/ns/pid'))).toThrow(invalid);
  });

  it('rejects invalid capability names in any set', () => {
    expect(broken((s) => s.process!.capabilities!.bounding!.push('CAP_FLY'))).toThrow(invalid);
    expect(broken((s) => (s.process!.capabilities!.ambient = ['NET_ADMIN']))).toThrow(invalid);
  });

  it('rejects other things runc would refuse', () => {
    expect(broken((s) => (s.process!.cwd = 'work'))).toThrow(invalid);
    expect(broken((s) => (s.process!.user.uid = -1))).toThrow(invalid);
    expect(broken((s) => (s.process!.env = ['NOEQUALS']))).toThrow(invalid);
    expect(
      broken((s) => s.process!.rlimits!.push({ type: 'RLIMIT_NOFILE', hard: 1, soft: 1 })),
    ).toThrow(invalid);
    expect(broken((s) => s.process!.rlimits!.push({ type: 'NOFILE', hard: 1, soft: 1 }))).toThrow(
      invalid,
    );
    expect(
      broken((s) => (s.linux!.devices = [{ path: 'dev/x', type: 'c', major: 1, minor: 3 }])),
    ).toThrow(invalid);
    expect(
      broken((s) => (s.linux!.devices = [{ path: '/dev/x', type: 'z', major: 1, minor: 3 }])),
    ).toThrow(invalid);
    expect(
      broken((s) => s.linux!.resources!.devices!.push({ allow: true, access: 'rwx' })),
    ).toThrow(invalid);
    expect(broken((s) => (s.root!.path = ''))).toThrow(invalid);
    expect(broken((s) => (s.ociVersion = ''))).toThrow(invalid);
  });
});
