import { describe, expect, it } from 'vitest';
import {
  MAX_SOCKET_PATH,
  SOCKET_DIR,
  SOCKET_DIR_ENV,
  daemonSocketDir,
  fromAddress,
  groupKey,
  shimSocketDir,
  socketPath,
  toAddress,
  ttrpcEventsAddress,
} from './address.js';

describe('shim addresses', () => {
  it('hashes daemon address, namespace and group into a short, stable path', () => {
    const a = socketPath('/run/berth/berthd.sock', 'default', 'c1', SOCKET_DIR);
    expect(a).toMatch(/^\/run\/berth\/s\/[0-9a-f]{32}$/);
    expect(Buffer.byteLength(a)).toBeLessThan(108);
    expect(socketPath('/run/berth/berthd.sock', 'default', 'c1')).toBe(a);
    expect(socketPath('/run/berth/berthd.sock', 'other', 'c1')).not.toBe(a);
    expect(socketPath('/run/other.sock', 'default', 'c1')).not.toBe(a);
  });

  it("puts sockets under the daemon's state unless that path would be too long", () => {
    expect(daemonSocketDir('/tmp/berth-a/state')).toBe('/tmp/berth-a/state/s');
    const long = `/${'x'.repeat(80)}`;
    expect(daemonSocketDir(long)).toBe(SOCKET_DIR);
    const dir = daemonSocketDir(`/${'y'.repeat(MAX_SOCKET_PATH - 36)}`);
    expect(socketPath('/a.sock', 'ns', 'g', dir).length).toBeLessThanOrEqual(MAX_SOCKET_PATH);
    expect(shimSocketDir({ [SOCKET_DIR_ENV]: '/tmp/berth-a/state/s' })).toBe(
      '/tmp/berth-a/state/s',
    );
    expect(shimSocketDir({})).toBe(SOCKET_DIR);
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
