// Registries that misbehave, played by a small HTTP server on 127.0.0.1:
// server errors (retried with backoff, then a clear error), 401 without a
// challenge, a manifest whose layer is missing, a download that stalls
// (fails after the stall timeout) and one that is slow but keeps moving
// (never times out). No failed pull leaves an image, a lease or an ingest.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import { fetchImage } from '../client/pull.js';
import { isBerthError } from '../core/errors/catalogue.js';
import { busyboxImage, type BuiltImage } from './fixtures/image-builder.js';
import { berth, startDaemon, type TestDaemon } from './helpers/daemon.js';
import {
  type FakeHandler,
  type FakeRegistry,
  serveImage,
  startFakeRegistry,
} from './helpers/registry.js';

const NO_HOSTS = '/nonexistent-berth-hosts';

describe('registry faults', () => {
  let d: TestDaemon;
  let client: Client;
  let img: BuiltImage;
  let fake: FakeRegistry | undefined;
  let ns = 0;

  beforeAll(async () => {
    d = await startDaemon();
    img = await busyboxImage();
  });

  afterAll(async () => {
    await d?.dispose();
  });

  afterEach(async () => {
    client?.close();
    await fake?.close();
    fake = undefined;
  });

  /** A fake registry serving the fixture under `v1`, in a fresh namespace. */
  async function setup(hook?: FakeHandler) {
    fake = await startFakeRegistry(hook);
    serveImage(fake, img, 'v1');
    client = new Client({ address: d.address, namespace: `faults${++ns}` });
    return fake;
  }

  const pullOpts = { plainHttp: true, hostsDir: NO_HOSTS, retry: { attempts: 3, baseDelayMs: 10 } };

  /** Nothing left behind by a failed pull. */
  async function expectClean() {
    expect(await client.images.list()).toEqual([]);
    expect(await client.leases.list()).toEqual([]);
    expect(await client.content.statuses()).toEqual([]);
  }

  it('retries 500s with backoff, then fails naming the status', async () => {
    const f = await setup((req, res, url) => {
      if (!url.pathname.includes('/manifests/')) return false;
      res.statusCode = 500;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'disk on fire' }] }));
      return true;
    });
    const err = await fetchImage(client, `${f.host}/x/busybox:v1`, pullOpts).catch((e) => e);
    expect(isBerthError(err, 'Unavailable')).toBe(true);
    expect(err.message).toMatch(/resolving .*: 500 Internal Server Error/);
    expect(f.requests.filter((r) => r.includes('/manifests/'))).toHaveLength(3);
    await expectClean();

    const cli = await berth(d, ['images', 'pull', '--plain-http', `${f.host}/x/busybox:v1`], {
      namespace: client.namespace,
    });
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/berth: resolving .*: 500 Internal Server Error/);
  });

  it('succeeds when the server recovers within the retries', async () => {
    let failures = 0;
    const f = await setup((req, res, url) => {
      if (!url.pathname.includes('/blobs/') || failures >= 2) return false;
      failures++;
      res.statusCode = 503;
      res.end();
      return true;
    });
    const r = await fetchImage(client, `${f.host}/x/busybox:v1`, pullOpts);
    expect(r.target.digest).toBe(img.manifest.digest);
    expect(failures).toBe(2);
  });

  it('explains a 401 without a challenge and a 403', async () => {
    const f = await setup((req, res, url) => {
      res.statusCode = url.pathname.includes('forbidden') ? 403 : 401;
      res.end();
      return true;
    });
    const err = await fetchImage(client, `${f.host}/x/busybox:v1`, pullOpts).catch((e) => e);
    expect(isBerthError(err, 'PermissionDenied')).toBe(true);
    expect(err.message).toMatch(/401 Unauthorized with no usable WWW-Authenticate challenge/);
    const err403 = await fetchImage(client, `${f.host}/forbidden/busybox:v1`, pullOpts).catch(
      (e) => e,
    );
    expect(isBerthError(err403, 'PermissionDenied')).toBe(true);
    expect(err403.message).toMatch(/403 Forbidden/);
    await expectClean();
  });

  it('fails clearly when a manifest references a blob the registry does not have', async () => {
    const f = await setup();
    f.blobs.delete(img.layers[1]!.digest);
    const err = await fetchImage(client, `${f.host}/x/busybox:v1`, pullOpts).catch((e) => e);
    expect(isBerthError(err, 'NotFound')).toBe(true);
    expect(err.message).toContain(`${img.layers[1]!.digest}: not found on ${f.host}`);
    await expectClean();
  });

  it('fails a download that stalls with a clear error', async () => {
    const big = img.layers.reduce((a, b) => (a.size > b.size ? a : b));
    const f = await setup((req, res, url) => {
      if (!url.pathname.endsWith(big.digest) || req.method !== 'GET') return false;
      const data = f.blobs.get(big.digest)!;
      res.setHeader('content-length', data.length);
      res.write(data.subarray(0, 1000)); // then nothing, connection held open
      return true;
    });
    const started = Date.now();
    const err = await fetchImage(client, `${f.host}/x/busybox:v1`, {
      ...pullOpts,
      stallTimeoutMs: 700,
    }).catch((e) => e);
    expect(isBerthError(err, 'DeadlineExceeded')).toBe(true);
    expect(err.message).toMatch(
      new RegExp(`fetching ${big.digest} from ${f.host}: stalled, no data received for 1s`),
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    await expectClean();
  });

  it('never times out a slow download that keeps moving', async () => {
    const big = img.layers.reduce((a, b) => (a.size > b.size ? a : b));
    const f = await setup((req, res, url) => {
      if (!url.pathname.endsWith(big.digest) || req.method !== 'GET') return false;
      const data = f.blobs.get(big.digest)!;
      res.setHeader('content-length', data.length);
      const pieces = 12;
      const step = Math.ceil(data.length / pieces);
      let i = 0;
      const timer = setInterval(() => {
        if (res.destroyed) return clearInterval(timer);
        res.write(data.subarray(i * step, (i + 1) * step));
        if (++i >= pieces) {
          clearInterval(timer);
          res.end();
        }
      }, 150); // ~1.8 s in all, each gap well under the stall timeout
      return true;
    });
    const r = await fetchImage(client, `${f.host}/x/busybox:v1`, {
      ...pullOpts,
      stallTimeoutMs: 600,
    });
    expect(r.fetched).toBe(4);
    expect((await client.content.info(big.digest)).size).toBe(big.size);
  });

  it('limits concurrent downloads', async () => {
    let active = 0;
    let peak = 0;
    const f = await setup(async (req, res, url) => {
      if (!url.pathname.includes('/blobs/') || req.method !== 'GET') return false;
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 150));
      active--;
      return false; // served by the default route
    });
    await fetchImage(client, `${f.host}/x/busybox:v1`, { ...pullOpts, maxConcurrentDownloads: 1 });
    expect(peak).toBe(1);
  });
});
