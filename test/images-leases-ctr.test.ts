// Images and leases over the wire: containerd's ctr, the Node client and the
// berth CLI against one berthd.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import { imagesApi } from '../client/images.js';
import { leasesApi } from '../client/leases.js';
import { isBerthError } from '../core/errors/catalogue.js';
import { berth, run, startDaemon, type TestDaemon } from './helpers/daemon.js';

const CTR = '/usr/bin/ctr';
const haveCtr = existsSync(CTR);

const INDEX = 'application/vnd.oci.image.index.v1+json';
const D1 = `sha256:${'c'.repeat(64)}`;
const D2 = `sha256:${'d'.repeat(64)}`;

/** Collects the output of a long-running `ctr events` until stopped. */
class EventWatcher {
  private out = '';
  private readonly proc: ChildProcess;

  constructor(address: string, namespace: string) {
    this.proc = spawn(CTR, ['-a', address, '-n', namespace, 'events'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout!.on('data', (b) => (this.out += b));
    this.proc.stderr!.on('data', (b) => (this.out += b));
  }

  lines(): string[] {
    return this.out.split('\n').filter(Boolean);
  }

  async waitFor(pred: (lines: string[]) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.lines())) {
      if (Date.now() > deadline) throw new Error(`ctr events never matched:\n${this.out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    await exited;
  }
}

describe.skipIf(!haveCtr)('images and leases against ctr', () => {
  let d: TestDaemon;
  let client: Client;
  const ctr = (...args: string[]) => run(CTR, ['-a', d.address, ...args]);

  beforeAll(async () => {
    d = await startDaemon();
    client = new Client({ address: d.address, namespace: 'imgs' });
  });
  afterAll(async () => {
    client?.close();
    await d?.dispose();
  });

  it('ctr images ls/label/tag/rm work on records made by the client', async () => {
    const images = imagesApi(client);
    const created = await images.create({
      name: 'docker.io/library/busybox:1.36',
      labels: { team: 'a' },
      target: { mediaType: INDEX, digest: D1, size: 1234, annotations: { note: 'x' } },
    });
    expect(created.createdAt?.seconds).toBeGreaterThan(0);

    const ls = await ctr('-n', 'imgs', 'images', 'ls');
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/^REF\s+TYPE\s+DIGEST\s+SIZE\s+PLATFORMS\s+LABELS/);
    expect(ls.stdout).toMatch(
      new RegExp(
        `docker\\.io/library/busybox:1\\.36\\s+${INDEX.replace(/[.+]/g, '\\$&')}\\s+${D1}\\s+.*team=a`,
      ),
    );

    expect(
      (await ctr('-n', 'imgs', 'images', 'label', 'docker.io/library/busybox:1.36', 'env=dev'))
        .code,
    ).toBe(0);
    expect((await images.get('docker.io/library/busybox:1.36')).labels).toEqual({
      team: 'a',
      env: 'dev',
    });

    const tag = await ctr(
      '-n',
      'imgs',
      'images',
      'tag',
      'docker.io/library/busybox:1.36',
      'example.com/bb:copy',
    );
    expect(tag.code).toBe(0);
    const copy = await images.get('example.com/bb:copy');
    expect(copy.target).toEqual({
      mediaType: INDEX,
      digest: D1,
      size: 1234,
      annotations: { note: 'x' },
    });
    const again = await ctr(
      '-n',
      'imgs',
      'images',
      'tag',
      'docker.io/library/busybox:1.36',
      'example.com/bb:copy',
    );
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already exists/);

    const quiet = await ctr('-n', 'imgs', 'images', 'ls', '-q');
    expect(quiet.stdout.trim().split('\n')).toEqual([
      'docker.io/library/busybox:1.36',
      'example.com/bb:copy',
    ]);
    const filtered = await ctr('-n', 'imgs', 'images', 'ls', '-q', 'name~=^example');
    expect(filtered.stdout.trim()).toBe('example.com/bb:copy');
    // The tag carried the labels over; a label set on the copy alone tells them apart.
    expect(
      (await ctr('-n', 'imgs', 'images', 'label', 'example.com/bb:copy', 'env=prod')).code,
    ).toBe(0);
    const byLabel = await ctr('-n', 'imgs', 'images', 'ls', '-q', 'labels.env==dev');
    expect(byLabel.stdout.trim()).toBe('docker.io/library/busybox:1.36');

    expect((await ctr('-n', 'imgs', 'images', 'rm', 'example.com/bb:copy')).code).toBe(0);
    expect(
      (await ctr('-n', 'imgs', 'images', 'rm', '--sync', 'docker.io/library/busybox:1.36')).code,
    ).toBe(0);
    expect((await ctr('-n', 'imgs', 'images', 'ls', '-q')).stdout.trim()).toBe('');
    // The namespace is empty again and can go.
    expect((await ctr('namespaces', 'rm', 'imgs')).code).toBe(0);
  });

  it('the daemon rejects invalid images with InvalidArgument', async () => {
    const images = imagesApi(client);
    const bad = [
      { name: 'a b', target: { mediaType: INDEX, digest: D1, size: 1 } },
      { name: 'x:1', target: { mediaType: INDEX, digest: 'sha256:nothex', size: 1 } },
      { name: 'x:1', target: { mediaType: INDEX, digest: D1, size: 0 } },
      { name: 'x:1', target: { mediaType: '', digest: D1, size: 1 } },
    ];
    for (const image of bad) {
      const err = await images.create(image).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isBerthError(err, 'InvalidArgument'), JSON.stringify(image)).toBe(true);
    }
    const err = await images.get('missing:1').catch((e: unknown) => e);
    expect(isBerthError(err, 'NotFound')).toBe(true);
  });

  it('ctr events decodes /images/create, /images/update and /images/delete', async () => {
    const images = imagesApi(client.withNamespace('evns'));
    const watcher = new EventWatcher(d.address, 'evns');
    try {
      // ctr gives no sign that it has subscribed: publish probes until one shows.
      let probes = 0;
      await watcher.waitFor((lines) => {
        if (lines.some((l) => l.includes('/images/create'))) return true;
        void images
          .create({
            name: `probe:${probes++}`,
            target: { mediaType: INDEX, digest: D1, size: 1 },
          })
          .catch(() => undefined); // a lost probe only means another one is sent
        return false;
      });
      await images.create({
        name: 'ev.io/app:1',
        labels: { a: '1' },
        target: { mediaType: INDEX, digest: D1, size: 10 },
      });
      await images.update(
        { name: 'ev.io/app:1', labels: {}, target: { mediaType: INDEX, digest: D2, size: 20 } },
        ['target'],
      );
      await images.setLabels('ev.io/app:1', { b: '2' });
      await images.delete('ev.io/app:1');
      await watcher.waitFor((lines) =>
        lines.some((l) => l.includes('/images/delete') && l.includes('ev.io/app:1')),
      );
      const mine = watcher
        .lines()
        .filter((l) => l.includes('ev.io/app:1'))
        .map((l) => l.replace(/^.* UTC /, ''));
      expect(mine).toEqual([
        'evns /images/create {"name":"ev.io/app:1","labels":{"a":"1"}}',
        'evns /images/update {"name":"ev.io/app:1","labels":{"a":"1"}}',
        'evns /images/update {"name":"ev.io/app:1","labels":{"a":"1","b":"2"}}',
        'evns /images/delete {"name":"ev.io/app:1"}',
      ]);
      expect((await images.get('probe:0')).target?.digest).toBe(D1);
    } finally {
      await watcher.stop();
    }
  });

  it('ctr leases create/ls/rm', async () => {
    const generated = await ctr('-n', 'ls1', 'leases', 'create');
    expect(generated.code).toBe(0);
    const genId = generated.stdout.trim();
    expect(genId).not.toBe('');

    const named = await ctr(
      '-n',
      'ls1',
      'leases',
      'create',
      '--id',
      'pull-1',
      '-x',
      '1h',
      'team=a',
    );
    expect(named.code).toBe(0);
    expect(named.stdout.trim()).toBe('pull-1');
    expect((await ctr('-n', 'ls1', 'leases', 'create', '--id', 'forever', '-x', '0')).code).toBe(0);

    const ls = await ctr('-n', 'ls1', 'leases', 'ls');
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/^ID\s+CREATED AT\s+LABELS/);
    expect(ls.stdout).toMatch(
      /pull-1\s+\S+\s+containerd\.io\/gc\.expire=\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z,team=a/,
    );
    expect(ls.stdout).toMatch(/forever\s+\S+\s+-?\s*$/m);
    // ctr's default expiry is 24h from now.
    const gen = (await leasesApi(client.withNamespace('ls1')).list(`id==${genId}`))[0]!;
    const expires = Date.parse(gen.labels['containerd.io/gc.expire']!);
    expect(expires - Date.now()).toBeGreaterThan(23 * 3600_000);
    expect(expires - Date.now()).toBeLessThan(25 * 3600_000);

    const filtered = await ctr('-n', 'ls1', 'leases', 'ls', '-q', 'labels.team==a');
    expect(filtered.stdout.trim()).toBe('pull-1');

    const dup = await ctr('-n', 'ls1', 'leases', 'create', '--id', 'pull-1');
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toMatch(/already exists/);
    const bad = await ctr('-n', 'ls1', 'leases', 'create', '--id', 'a/b');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/invalid argument/);

    expect((await ctr('-n', 'ls1', 'leases', 'rm', 'pull-1')).code).toBe(0);
    const gone = await ctr('-n', 'ls1', 'leases', 'rm', 'pull-1');
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/not found/);
    expect((await ctr('-n', 'ls1', 'leases', 'rm', '--sync', 'forever', genId)).code).toBe(0);
    expect((await ctr('-n', 'ls1', 'leases', 'ls', '-q')).stdout.trim()).toBe('');
  });

  it('lease resources round-trip over the wire', async () => {
    const leases = leasesApi(client.withNamespace('res'));
    const lease = await leases.create({ id: 'l1', labels: { 'containerd.io/gc.flat': '' } });
    expect(lease.id).toBe('l1');
    await leases.addResource('l1', { id: D1, type: 'content' });
    await leases.addResource('l1', { id: 'extract-1 sha256:x', type: 'snapshots/overlayfs' });
    await leases.addResource('l1', { id: 'ref-1', type: 'ingests' });
    expect(await leases.listResources('l1')).toEqual([
      { id: D1, type: 'content' },
      { id: 'ref-1', type: 'ingests' },
      { id: 'extract-1 sha256:x', type: 'snapshots/overlayfs' },
    ]);
    await leases.deleteResource('l1', { id: 'ref-1', type: 'ingests' });
    expect(await leases.listResources('l1')).toHaveLength(2);

    const unsupported = await leases
      .addResource('l1', { id: 'x', type: 'containers' })
      .catch((e: unknown) => e);
    expect(isBerthError(unsupported, 'NotImplemented')).toBe(true);
    const badDigest = await leases
      .addResource('l1', { id: 'sha256:zz', type: 'content' })
      .catch((e: unknown) => e);
    expect(isBerthError(badDigest, 'InvalidArgument')).toBe(true);
    const noLease = await leases
      .addResource('nope', { id: D1, type: 'content' })
      .catch((e: unknown) => e);
    expect(isBerthError(noLease, 'NotFound')).toBe(true);

    // A lease holds its namespace until it is deleted.
    expect((await ctr('namespaces', 'rm', 'res')).code).not.toBe(0);
    await leases.delete('l1', { sync: true });
    expect((await ctr('namespaces', 'rm', 'res')).code).toBe(0);
  });

  it('records survive a daemon restart', async () => {
    const c = client.withNamespace('keep');
    await imagesApi(c).create({
      name: 'keep.io/x:1',
      target: { mediaType: INDEX, digest: D2, size: 5 },
    });
    await leasesApi(c).create({ id: 'held' });
    await leasesApi(c).addResource('held', { id: D2, type: 'content' });
    expect(await d.stop()).toBe(0);
    await d.restart();
    expect((await ctr('-n', 'keep', 'images', 'ls', '-q')).stdout.trim()).toBe('keep.io/x:1');
    expect((await ctr('-n', 'keep', 'leases', 'ls', '-q')).stdout.trim()).toBe('held');
    expect(await leasesApi(c).listResources('held')).toEqual([{ id: D2, type: 'content' }]);
  });

  it('berth images and leases commands', async () => {
    const ns = { namespace: 'cli' };
    await imagesApi(client.withNamespace('cli')).create({
      name: 'docker.io/library/alpine:3',
      labels: { os: 'alpine' },
      target: { mediaType: INDEX, digest: D1, size: 42 },
    });
    const ls = await berth(d, ['images', 'ls'], ns);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/^REF\s+TYPE\s+DIGEST\s+SIZE\s+PLATFORMS\s+LABELS\n/);
    expect(ls.stdout).toMatch(
      new RegExp(`docker\\.io/library/alpine:3\\s+\\S+\\s+${D1}\\s+-\\s+-\\s+os=alpine`),
    );

    expect(
      (await berth(d, ['images', 'tag', 'docker.io/library/alpine:3', 'a:1', 'b:1'], ns)).code,
    ).toBe(0);
    const dup = await berth(d, ['images', 'tag', 'docker.io/library/alpine:3', 'a:1'], ns);
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toMatch(/already exists/);
    expect(
      (await berth(d, ['images', 'tag', '--force', 'docker.io/library/alpine:3', 'a:1'], ns)).code,
    ).toBe(0);

    const label = await berth(d, ['images', 'label', 'a:1', 'tier=web', 'os='], ns);
    expect(label.stdout.trim()).toBe('tier=web');
    expect((await berth(d, ['images', 'ls', '-q', 'labels.tier==web'], ns)).stdout.trim()).toBe(
      'a:1',
    );

    const rm = await berth(d, ['images', 'rm', 'a:1', 'missing:1', 'b:1'], ns);
    expect(rm.code).toBe(1);
    expect(rm.stderr).toMatch(/missing:1.*not found/);
    expect((await berth(d, ['images', 'ls', '-q'], ns)).stdout.trim()).toBe(
      'docker.io/library/alpine:3',
    );

    const created = await berth(
      d,
      ['leases', 'create', '--id', 'cli-1', '--expires', '90m', 'k=v'],
      ns,
    );
    expect(created.stdout.trim()).toBe('cli-1');
    const lease = (await leasesApi(client.withNamespace('cli')).list('id==cli-1'))[0]!;
    const expires = Date.parse(lease.labels['containerd.io/gc.expire']!) - Date.now();
    expect(expires).toBeGreaterThan(85 * 60_000);
    expect(expires).toBeLessThan(95 * 60_000);
    expect((await berth(d, ['leases', 'ls'], ns)).stdout).toMatch(
      /cli-1\s+\S+\s+containerd\.io\/gc\.expire=\S+,k=v/,
    );
    expect((await berth(d, ['leases', 'create', '--expires', '5parsecs'], ns)).code).not.toBe(0);
    expect((await berth(d, ['leases', 'rm', '--sync', 'cli-1'], ns)).code).toBe(0);
    expect((await berth(d, ['leases', 'ls', '-q'], ns)).stdout.trim()).toBe('');
  });
});
