// containerd's own ctr (Debian package) against berthd: the wire compatibility
// of the core services.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, startDaemon, type TestDaemon } from './helpers/daemon.js';

const CTR = '/usr/bin/ctr';
const haveCtr = existsSync(CTR);

describe.skipIf(!haveCtr)('ctr against berthd', () => {
  let d: TestDaemon;
  const ctr = (...args: string[]) => run(CTR, ['-a', d.address, ...args]);

  beforeAll(async () => {
    d = await startDaemon();
  });
  afterAll(async () => {
    await d?.dispose();
  });

  it('ctr version shows the server', async () => {
    const r = await ctr('version');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Server:\s+Version:\s+v\d+\.\d+\.\d+/);
    expect(r.stdout).toMatch(/UUID: [0-9a-f-]{36}/);
  });

  it('ctr plugins ls lists our plugins as ok', async () => {
    const r = await ctr('plugins', 'ls');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/io\.berth\.metadata\.v1\s+leveldb\s+linux\/\w+\s+ok/);
    expect(r.stdout).toMatch(/io\.berth\.grpc\.v1\s+containers/);
    const filtered = await ctr('plugins', 'ls', 'type==io.berth.metadata.v1');
    expect(filtered.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('ctr namespaces create / label / ls / rm', async () => {
    expect((await ctr('namespaces', 'create', 'interop', 'team=a')).code).toBe(0);
    expect((await ctr('namespaces', 'label', 'interop', 'env=test')).code).toBe(0);
    const ls = await ctr('namespaces', 'ls');
    expect(ls.stdout).toMatch(/interop\s+env=test,team=a/);
    const dup = await ctr('namespaces', 'create', 'interop');
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toMatch(/already exists/);
    const bad = await ctr('namespaces', 'create', '../etc');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/invalid argument/);
    expect((await ctr('namespaces', 'rm', 'interop')).code).toBe(0);
    expect((await ctr('namespaces', 'ls', '-q')).stdout).not.toMatch(/interop/);
  });

  it('ctr containers ls shows containers created through berth', async () => {
    const { Client } = await import('../client/client.js');
    const { packJson, OCI_SPEC_TYPE_URL } = await import('../core/protobuf/typeurl.js');
    const c = new Client({ address: d.address, namespace: 'ctrns' });
    try {
      await c.containers.create({
        id: 'web-1',
        image: 'example.com/web:1',
        runtime: { name: 'io.containerd.runc.v2', options: undefined },
        spec: packJson(OCI_SPEC_TYPE_URL, { ociVersion: '1.0.2-dev' }),
      });
      const r = await ctr('-n', 'ctrns', 'containers', 'ls');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/web-1\s+example\.com\/web:1\s+io\.containerd\.runc\.v2/);
      const info = await ctr('-n', 'ctrns', 'containers', 'info', 'web-1');
      expect(info.code).toBe(0);
      expect(JSON.parse(info.stdout).Image).toBe('example.com/web:1');
      // A namespace with containers cannot be removed.
      const rm = await ctr('namespaces', 'rm', 'ctrns');
      expect(rm.code).not.toBe(0);
      expect(rm.stderr).toMatch(/must be empty/);
      await c.containers.delete('web-1');
      expect((await ctr('-n', 'ctrns', 'containers', 'ls', '-q')).stdout.trim()).toBe('');
    } finally {
      c.close();
    }
  });

  it('ctr events receives an event published through berthd', async () => {
    const proc = spawn(CTR, ['-a', d.address, 'events'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (b) => (out += b));
    try {
      // Give the subscription time to be established, then publish.
      await new Promise((r) => setTimeout(r, 500));
      expect((await ctr('namespaces', 'create', 'evns')).code).toBe(0);
      const deadline = Date.now() + 10_000;
      while (!out.includes('/namespaces/create') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(out).toMatch(/default \/namespaces\/create \{"name":"evns"\}/);
    } finally {
      proc.kill('SIGTERM');
      await ctr('namespaces', 'rm', 'evns');
    }
  });
});
