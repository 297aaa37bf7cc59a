// The content store through containerd's own ctr (Debian package) and the
// berth CLI against berthd: ingest, list, read, label, delete, active ingests.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distCmd, startDaemon, type TestDaemon } from './helpers/daemon.js';

const CTR = '/usr/bin/ctr';
const haveCtr = existsSync(CTR);

interface Result {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs a command with binary stdin and binary stdout. */
function exec(cmd: string, args: string[], input?: Buffer): Promise<Result> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.stderr.on('data', (b) => (stderr += b));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.once('error', reject);
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
    p.stdin.on('error', () => undefined);
    p.stdin.end(input ?? Buffer.alloc(0));
  });
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe.skipIf(!haveCtr)('content store: ctr and berth against berthd', () => {
  let d: TestDaemon;
  const ctr = (args: string[], input?: Buffer, ns = 'default') =>
    exec(CTR, ['-a', d.address, '-n', ns, ...args], input);
  const berth = (args: string[], input?: Buffer, ns = 'default') =>
    exec(process.execPath, [distCmd('berth'), '-a', d.address, '-n', ns, ...args], input);
  const blobFile = (digest: string) =>
    path.join(d.root, 'io.berth.content.v1.content', 'blobs', ...digest.split(':'));
  const text = (r: Result) => r.stdout.toString();

  const small = Buffer.from('{"schemaVersion":2}\n');
  const big = randomBytes(3 * 1024 * 1024 + 123);

  beforeAll(async () => {
    // These tests keep content and snapshots with no lease or gc.root label, which
    // the collector would rightly remove; the collector has tests of its own.
    d = await startDaemon({ config: 'disabled_plugins = ["io.berth.gc.v1.scheduler"]\n' });
  });
  afterAll(async () => {
    await d?.dispose();
  });

  it('ctr content ingest commits verified blobs that ls and get return', async () => {
    const r1 = await ctr(
      [
        'content',
        'ingest',
        '--expected-size',
        String(small.length),
        '--expected-digest',
        sha256(small),
        'small-ref',
      ],
      small,
    );
    expect(r1.stderr).toBe('');
    expect(r1.code).toBe(0);
    const r2 = await ctr(['content', 'ingest', 'big-ref'], big);
    expect(r2.code).toBe(0);

    const ls = text(await ctr(['content', 'ls']));
    expect(ls).toMatch(/^DIGEST\s+SIZE\s+AGE\s+LABELS/);
    expect(ls).toContain(sha256(small));
    expect(ls).toMatch(new RegExp(`${sha256(big)}\\s+3\\.146MB`));
    const q = text(await ctr(['content', 'ls', '-q']))
      .trim()
      .split('\n')
      .sort();
    expect(q).toEqual([sha256(small), sha256(big)].sort());

    const got = await ctr(['content', 'get', sha256(big)]);
    expect(got.code).toBe(0);
    expect(got.stdout.equals(big)).toBe(true);
    expect((await ctr(['content', 'get', sha256(small)])).stdout.equals(small)).toBe(true);
    expect(statSync(blobFile(sha256(big))).size).toBe(big.length);

    // Ingesting content the namespace has is a no-op success, as with containerd.
    const again = await ctr(
      ['content', 'ingest', '--expected-digest', sha256(small), 'again'],
      small,
    );
    expect(again.code).toBe(0);
    expect(text(await ctr(['content', 'active']))).not.toMatch(/again/);
  });

  it('ctr content label and filtered ls', async () => {
    const l = await ctr(['content', 'label', sha256(small), 'app=web', 'tier=1']);
    expect(l.code).toBe(0);
    expect(text(l).trim().split(',').sort()).toEqual(['app=web', 'tier=1']);
    expect(text(await ctr(['content', 'label', sha256(small), 'tier=']))).toBe('app=web\n');

    const byLabel = text(await ctr(['content', 'ls', '-q', 'labels.app==web'])).trim();
    expect(byLabel).toBe(sha256(small));
    const byDigest = text(await ctr(['content', 'ls', '-q', `digest==${sha256(big)}`])).trim();
    expect(byDigest).toBe(sha256(big));
    expect(
      text(await ctr(['content', 'ls']))
        .split('\n')
        .find((x) => x.includes(sha256(small))),
    ).toMatch(/app=web$/);
  });

  it('a failed verification leaves an active ingest and no blob', async () => {
    const data = Buffer.from('not what you expected');
    const wrong = sha256(Buffer.from('something else'));
    const r = await ctr(['content', 'ingest', '--expected-digest', wrong, 'liar'], data);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unexpected commit digest .*failed precondition/);
    expect(existsSync(blobFile(wrong))).toBe(false);
    expect(existsSync(blobFile(sha256(data)))).toBe(false);

    const active = text(await ctr(['content', 'active']));
    expect(active).toMatch(/^REF\s+SIZE\s+AGE/);
    expect(active).toMatch(/liar\s+21B/);
    const mine = text(await berth(['content', 'active']));
    expect(mine).toMatch(/liar\s+21 B/);
    // Namespaced: another namespace sees no ingests.
    expect(text(await ctr(['content', 'active'], undefined, 'other'))).not.toMatch(/liar/);

    const wrongSize = await ctr(['content', 'ingest', '--expected-size', '5', 'short'], data);
    expect(wrongSize.code).not.toBe(0);
    expect(wrongSize.stderr).toMatch(/unexpected commit size/);
  });

  it('namespaces share one blob file and delete it with the last reference', async () => {
    expect(text(await ctr(['content', 'ls', '-q'], undefined, 'other'))).toBe('');
    const notThere = await ctr(['content', 'get', sha256(big)], undefined, 'other');
    expect(notThere.code).not.toBe(0);
    expect(notThere.stderr).toMatch(/not found/);

    const inode = statSync(blobFile(sha256(big))).ino;
    expect((await ctr(['content', 'ingest', 'copy'], big, 'other')).code).toBe(0);
    expect(statSync(blobFile(sha256(big))).ino).toBe(inode);
    expect(text(await ctr(['content', 'ls', '-q'], undefined, 'other')).trim()).toBe(sha256(big));

    const rm = await ctr(['content', 'rm', sha256(big)]);
    expect(rm.code).toBe(0);
    expect(text(rm).trim()).toBe(sha256(big));
    expect(text(await ctr(['content', 'ls', '-q']))).not.toContain(sha256(big));
    expect(existsSync(blobFile(sha256(big)))).toBe(true);

    expect((await ctr(['content', 'rm', sha256(big)], undefined, 'other')).code).toBe(0);
    expect(existsSync(blobFile(sha256(big)))).toBe(false);
  });

  it('the berth CLI ingests, reads, labels and removes content', async () => {
    const data = randomBytes(1.5 * 1024 * 1024);
    const ing = await berth(
      ['content', 'ingest', 'cli-ref', '--expected-size', String(data.length), '-l', 'src=cli'],
      data,
    );
    expect(ing.stderr).toBe('');
    expect(text(ing).trim()).toBe(sha256(data));
    expect((await berth(['content', 'get', sha256(data)])).stdout.equals(data)).toBe(true);
    // Visible to ctr too, with the label.
    expect(text(await ctr(['content', 'ls', 'labels.src==cli']))).toContain(sha256(data));

    expect(text(await berth(['content', 'label', sha256(data), 'x=1'])).trim()).toBe('src=cli,x=1');
    const ls = text(await berth(['content', 'ls', 'labels.x==1']));
    expect(ls).toMatch(new RegExp(`${sha256(data)}\\s+1\\.573 MB\\s+.*src=cli,x=1`));
    const bad = await berth(['content', 'get', 'sha256:xyz']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/invalid argument/);

    const rm = await berth(['content', 'rm', sha256(data)]);
    expect(text(rm).trim()).toBe(sha256(data));
    expect(text(await berth(['content', 'ls', '-q']))).not.toContain(sha256(data));
  });

  it('content and ingests survive a daemon restart', async () => {
    await d.stop();
    await d.restart();
    expect((await ctr(['content', 'get', sha256(small)])).stdout.equals(small)).toBe(true);
    expect(text(await ctr(['content', 'active']))).toMatch(/liar/);
    const ingestDir = path.join(d.root, 'io.berth.content.v1.content', 'ingest');
    expect((await readdir(ingestDir)).length).toBeGreaterThan(0);
  });
});
