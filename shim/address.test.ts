import { describe, expect, it } from 'vitest';
import { fromAddress, groupKey, socketPath, toAddress, ttrpcEventsAddress } from './address.js';

describe('shim addresses', () => {
  it('hashes daemon address, namespace and group into a short, stable path', () => {
    const a = socketPath('/run/berth/berthd.sock', 'default', 'c1');
    expect(a).toMatch(/^\/run\/berth\/s\/[0-9a-f]{64}$/);
    expect(Buffer.byteLength(a)).toBeLessThan(108);
    expect(socketPath('/run/berth/berthd.sock', 'default', 'c1')).toBe(a);
    expect(socketPath('/run/berth/berthd.sock', 'other', 'c1')).not.toBe(a);
    expect(socketPath('/run/other.sock', 'default', 'c1')).not.toBe(a);
  });

  it('groups by the group annotation, then the sandbox id, else the container id', () => {
    expect(groupKey(undefined, 'c1')).toBe('c1');
    expect(groupKey({ annotations: { 'io.kubernetes.cri.sandbox-id': 'pod' } }, 'c1')).toBe('pod');
    expect(
      groupKey(
        {
          annotations: {
            'io.kubernetes.cri.sandbox-id': 'pod',
            'io.containerd.runc.v2.group': 'g',
          },
        },
        'c1',
      ),
    ).toBe('g');
  });

  it('converts addresses and finds the events endpoint', () => {
    expect(fromAddress(toAddress('/x/y'))).toBe('/x/y');
    expect(ttrpcEventsAddress({ TTRPC_ADDRESS: '/t' }, '/a')).toBe('/t');
    expect(ttrpcEventsAddress({}, '/a')).toBe('/a.ttrpc');
    expect(ttrpcEventsAddress({}, '')).toBe('');
  });
});
