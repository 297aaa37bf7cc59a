// The berth CLI and berthd's own command line, end to end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, distCmd, run, startDaemon, type TestDaemon } from './helpers/daemon.js';

describe('berth CLI', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startDaemon();
  });
  afterAll(async () => {
    await d?.dispose();
  });

  it('version prints client and server', async () => {
    const r = await berth(d, ['version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Client:[\s\S]*Server:\s+Version:\s+v\d/);
  });

  it('plugins ls and ls -d', async () => {
    const r = await berth(d, ['plugins', 'ls']);
    expect(r.stdout.split('\n')[0]).toMatch(/^TYPE\s+ID\s+PLATFORMS\s+STATUS$/);
    expect(r.stdout).toMatch(/io\.berth\.grpc\.v1\s+namespaces\s+linux\/\w+\s+ok/);
    const detailed = await berth(d, ['plugins', 'ls', '-d', 'id==leveldb']);
    expect(detailed.stdout).toMatch(/Type:\s+io\.berth\.metadata\.v1/);
    expect(detailed.stdout).toMatch(/path\s+\S+meta\.db/);
  });

  it('namespaces create, label, ls, rm', async () => {
    expect((await berth(d, ['ns', 'create', 'team-a', 'owner=ops'])).code).toBe(0);
    const label = await berth(d, ['ns', 'label', 'team-a', 'tier=gold', 'owner=']);
    expect(label.stdout.trim()).toBe('tier=gold');
    const ls = await berth(d, ['namespaces', 'ls']);
    expect(ls.stdout).toMatch(/team-a\s+tier=gold/);
    expect((await berth(d, ['ns', 'ls', '-q'])).stdout.split('\n')).toContain('team-a');
    const json = JSON.parse((await berth(d, ['ns', 'ls', '--json'])).stdout);
    expect(json).toContainEqual({ name: 'team-a', labels: { tier: 'gold' } });
    expect((await berth(d, ['ns', 'rm', 'team-a'])).code).toBe(0);
  });

  it('containers ls, info, label, rm', async () => {
    const { Client } = await import('../client/client.js');
    const { packJson, OCI_SPEC_TYPE_URL } = await import('../core/protobuf/typeurl.js');
    const c = new Client({ address: d.address, namespace: 'cli' });
    try {
      for (const id of ['a1', 'b2']) {
        await c.containers.create({
          id,
          labels: { app: id === 'a1' ? 'web' : 'db' },
          runtime: { name: 'io.containerd.runc.v2', options: undefined },
          spec: packJson(OCI_SPEC_TYPE_URL, { process: { args: ['true'] } }),
        });
      }
    } finally {
      c.close();
    }
    const ls = await berth(d, ['containers', 'ls'], { namespace: 'cli' });
    expect(ls.stdout).toMatch(
      /^CONTAINER\s+IMAGE\s+RUNTIME\na1\s+-\s+io\.containerd\.runc\.v2\nb2/,
    );
    const filtered = await berth(d, ['c', 'ls', '-q', 'labels.app==web'], { namespace: 'cli' });
    expect(filtered.stdout).toBe('a1\n');
    const info = JSON.parse((await berth(d, ['c', 'info', 'a1'], { namespace: 'cli' })).stdout);
    expect(info.Spec).toEqual({ process: { args: ['true'] } });
    expect((await berth(d, ['c', 'label', 'a1', 'tier=1'], { namespace: 'cli' })).stdout).toBe(
      'app=web,tier=1\n',
    );
    const rm = await berth(d, ['c', 'rm', 'a1', 'b2', 'nope'], { namespace: 'cli' });
    expect(rm.code).toBe(1);
    expect(rm.stderr).toMatch(
      /failed to delete container nope: container "nope" in namespace "cli": not found/,
    );
    expect((await berth(d, ['c', 'ls', '-q'], { namespace: 'cli' })).stdout).toBe('');
  });

  it('reports a clear error when the daemon is not there', async () => {
    const r = await berth({ address: `${d.dir}/nothing.sock` }, ['version']);
    expect(r.code).toBe(3); // docs/cli.md: exit status 3, berthd not reachable
    expect(r.stderr).toMatch(/cannot connect to berthd at .*nothing\.sock: is it running\?/);
  });

  it('rejects bad input with the right codes', async () => {
    const bad = await berth(d, ['ns', 'create', 'bad/name']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/invalid argument/);
    const missing = await berth(d, ['c', 'info', 'ghost']);
    expect(missing.stderr).toMatch(/not found/);
    const badNs = await berth(d, ['c', 'ls'], { namespace: '..' });
    expect(badNs.stderr).toMatch(/invalid argument/);
    const badFilter = await berth(d, ['c', 'ls', 'labels.x=="unterminated']);
    expect(badFilter.stderr).toMatch(/invalid argument/);
  });
});

describe('berthd command line', () => {
  it('config default prints every plugin table', async () => {
    const r = await run(process.execPath, [distCmd('berthd'), 'config', 'default']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^root = "\/var\/lib\/berth"$/m);
    expect(r.stdout).toMatch(
      /\[plugins\."io\.berth\.service\.v1\.events-service"\]\nsubscriber_buffer = 1024/,
    );
  });

  it('config dump merges the file and flags', async () => {
    const d = await startDaemon({
      config:
        'version = 1\n[plugins."io.berth.service.v1.events-service"]\nsubscriber_buffer = 7\n',
    });
    try {
      const r = await run(process.execPath, [
        distCmd('berthd'),
        '--config',
        `${d.dir}/config.toml`,
        '--root',
        '/tmp/elsewhere',
        'config',
        'dump',
      ]);
      expect(r.stdout).toMatch(/^root = "\/tmp\/elsewhere"$/m);
      expect(r.stdout).toMatch(/subscriber_buffer = 7/);
    } finally {
      await d.dispose();
    }
  });

  it('refuses a bad config with a clear message', async () => {
    const d = await startDaemon();
    await d.stop();
    const r = await run(process.execPath, [distCmd('berthd'), '--config', '/nonexistent.toml']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot read config \/nonexistent\.toml/);
    await d.dispose();
  });

  it('one daemon per root: a second one fails clearly', async () => {
    const d = await startDaemon();
    try {
      const r = await run(process.execPath, [
        distCmd('berthd'),
        '--root',
        d.root,
        '--state',
        `${d.dir}/state2`,
        '--address',
        `${d.dir}/other.sock`,
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/another berthd \(pid \d+\) is already running with this root/);
    } finally {
      await d.dispose();
    }
  });

  it('stops gracefully on SIGTERM and logs its startup time', async () => {
    const d = await startDaemon();
    const code = await d.stop('SIGTERM');
    expect(code).toBe(0);
    expect(d.logs()).toMatch(/"startupMs":\d+/);
    expect(d.logs()).toMatch(/berthd stopped/);
    await d.dispose();
  });
});
