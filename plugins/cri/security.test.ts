import { describe, expect, it } from 'vitest';
import { Capability } from '../../api/gen/cri/runtime/v1/api.js';
import { DEFAULT_UNIX_CAPABILITIES, type Spec, defaultSpec } from '../../core/oci/index.js';
import { withCriCapabilities } from './security.js';

// A host that withholds CAP_SYS_RESOURCE, like a container-in-container CI runner.
const HELD = ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_SYS_ADMIN'];

function capsOf(request: Record<string, unknown>, held = HELD) {
  const s: Spec = defaultSpec({ id: 'c', namespace: 'k8s.io' });
  withCriCapabilities(Capability.fromJSON(request), held)(s);
  return s.process!.capabilities!;
}

describe('CRI capabilities', () => {
  it('add ALL grants exactly what berthd holds, in every set runc checks', () => {
    const caps = capsOf({ addCapabilities: ['ALL'] });
    for (const set of [caps.bounding, caps.effective, caps.permitted]) {
      expect([...set!].sort()).toEqual([...HELD].sort());
    }
    expect(caps.bounding).not.toContain('CAP_SYS_RESOURCE');
  });

  it('add ALL with drops leaves everything held but the dropped ones', () => {
    const caps = capsOf({ addCapabilities: ['all'], dropCapabilities: ['NET_RAW', 'cap_kill'] });
    expect([...caps.effective!].sort()).toEqual(['CAP_CHOWN', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN']);
    expect([...caps.bounding!].sort()).toEqual(['CAP_CHOWN', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN']);
  });

  it('drop ALL then named adds gives only those', () => {
    const caps = capsOf({ dropCapabilities: ['ALL'], addCapabilities: ['NET_BIND_SERVICE'] });
    expect(caps.effective).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(caps.bounding).toEqual(['CAP_NET_BIND_SERVICE']);
  });

  it('named adds and drops change the default set', () => {
    const caps = capsOf({ addCapabilities: ['SYS_ADMIN'], dropCapabilities: ['CHOWN'] });
    expect(caps.effective).toContain('CAP_SYS_ADMIN');
    expect(caps.effective).not.toContain('CAP_CHOWN');
    expect(caps.effective).toHaveLength(DEFAULT_UNIX_CAPABILITIES.length);
  });

  it('ambient capabilities are added and made ambient and inheritable', () => {
    const caps = capsOf({ addAmbientCapabilities: ['NET_ADMIN'] });
    expect(caps.effective).toContain('CAP_NET_ADMIN');
    expect(caps.ambient).toEqual(['CAP_NET_ADMIN']);
    expect(caps.inheritable).toEqual(['CAP_NET_ADMIN']);
  });

  it('rejects an unknown capability name', () => {
    expect(() => capsOf({ addCapabilities: ['NOT_A_CAP'] })).toThrow(/unknown capability/);
  });
});
