import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  MAX_SOCKET_PATH,
  SOCKET_DIR,
  SOCKET_DIR_ENV,
  daemonSocketDir,
  fromAddress,
  groupKey,
  planShimSocket,
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

  it("puts a pod's containers on their pod's shim socket, and sees whether it is served", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-shim-socket-'));
    const server = net.createServer();
    try {
      const pod = { annotations: { 'io.kubernetes.cri.sandbox-id': 'pod1' } };
      const plan = (id: string, spec?: { annotations?: Record<string, string> }) =>
        planShimSocket({
          daemonAddress: '/run/d.sock',
          namespace: 'k8s.io',
          id,
          spec,
          socketDir: dir,
        });
      const pause = await plan('pod1');
      const app = await plan('app1', pod);
      expect(app).toMatchObject({ group: 'pod1', socket: pause.socket, running: false });
      expect(app.address).toBe(toAddress(pause.socket));
      expect((await plan('other')).socket).not.toBe(pause.socket);

      await new Promise<void>((resolve) => server.listen(pause.socket, resolve));
      expect((await plan('app2', pod)).running).toBe(true);
      expect((await plan('other')).running).toBe(false);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
