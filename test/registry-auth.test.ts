// Registry authorization: basic auth against Debian's docker-registry with an
// htpasswd file, and the bearer token flow against a small token server and
// registry on 127.0.0.1 (anonymous and with credentials, scopes, a blob
// redirect to storage on another origin that must not see our credentials).

import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import { fetchImage } from '../client/pull.js';
import { isBerthError } from '../core/errors/catalogue.js';
import { busyboxImage, type BuiltImage } from './fixtures/image-builder.js';
import { berth, distCmd, run, startDaemon, type TestDaemon } from './helpers/daemon.js';
import {
  haveDockerRegistry,
  seedImage,
  serveImage,
  startFakeRegistry,
  startRegistry,
  TEST_PASSWORD,
  TEST_USER,
  type TestRegistry,
} from './helpers/registry.js';

const NO_HOSTS = '/nonexistent-berth-hosts';

let d: TestDaemon;
let img: BuiltImage;

beforeAll(async () => {
  d = await startDaemon();
  img = await busyboxImage();
});

afterAll(async () => {
  await d?.dispose();
});

describe.skipIf(!haveDockerRegistry)('basic auth (docker-registry htpasswd)', () => {
  let reg: TestRegistry;
  const cli = (...args: string[]) => berth(d, args, { namespace: 'basic' });

  beforeAll(async () => {
    reg = await startRegistry({ htpasswd: true });
    await seedImage(
      img,
      `${reg.host}/private/busybox`,
      { tag: 'v1' },
      {
        credentials: () => ({ username: TEST_USER, secret: TEST_PASSWORD }),
      },
    );
  });

  afterAll(async () => {
    await reg?.dispose();
  });

  it('refuses anonymous and wrong credentials with clear errors', async () => {
    const anon = await cli('images', 'pull', '--plain-http', `${reg.host}/private/busybox:v1`);
    expect(anon.code).toBe(1);
    expect(anon.stderr).toContain(
      `${reg.host} requires credentials (basic auth) and none were given`,
    );
    const wrong = await cli(
      'images',
      'pull',
      '--plain-http',
      '-u',
      `${TEST_USER}:nope`,
      `${reg.host}/private/busybox:v1`,
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`the registry refused the credentials for ${reg.host}`);
  });

  it('pulls and pushes with credentials', async () => {
    const user = `${TEST_USER}:${TEST_PASSWORD}`;
    const ref = `${reg.host}/private/busybox:v1`;
    const p = await cli('images', 'pull', '--plain-http', '--no-unpack', '-u', user, ref);
    expect(p.stderr).toMatch(/pulled in/);
    expect(p.code).toBe(0);
    const push = await cli(
      'images',
      'push',
      '--plain-http',
      '-u',
      user,
      `${reg.host}/private/copy:v1`,
      ref,
    );
    expect(push.stderr).toMatch(/pushed in/);
    expect(push.code).toBe(0);
    // The password may also come from the environment.
    const env = await run(
      process.execPath,
      [
        distCmd('berth'),
        '-a',
        d.address,
        '-n',
        'basic',
        'images',
        'pull',
        '--plain-http',
        '--no-unpack',
        '-u',
        TEST_USER,
        `${reg.host}/private/copy:v1`,
      ],
      { env: { BERTH_REGISTRY_PASSWORD: TEST_PASSWORD } },
    );
    expect(env.stderr).toMatch(/pulled in/);
    expect(env.code).toBe(0);
  });
});

describe('bearer token auth', () => {
  let storage: http.Server;
  let storagePort = 0;
  const storageAuth: string[] = [];
  const tokenRequests: URL[] = [];
  const tokenAuth: string[] = [];
  let requireLogin = false;
  let client: Client;

  beforeAll(async () => {
    // Storage on another origin that blob GETs are redirected to.
    storage = http.createServer((req, res) => {
      storageAuth.push(req.headers.authorization ?? '');
      const digest = new URL(req.url!, 'http://x').pathname.slice('/blob/'.length);
      const data = img.blobs.get(digest);
      if (!data) {
        res.statusCode = 404;
        return res.end();
      }
      res.setHeader('content-length', data.length);
      res.end(data);
    });
    await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
    storagePort = (storage.address() as net.AddressInfo).port;
    client = new Client({ address: d.address, namespace: 'bearer' });
  });

  afterAll(async () => {
    client?.close();
    storage.closeAllConnections();
    await new Promise((r) => storage.close(r));
  });

  async function tokenRegistry() {
    const fake = await startFakeRegistry((req, res, url) => {
      if (url.pathname === '/token') {
        tokenRequests.push(url);
        const auth = req.headers.authorization ?? '';
        tokenAuth.push(auth);
        const good = `Basic ${Buffer.from(`${TEST_USER}:${TEST_PASSWORD}`).toString('base64')}`;
        if ((requireLogin && auth !== good) || (auth && auth !== good)) {
          res.statusCode = 401;
          res.end();
          return true;
        }
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            token: `tok ${url.searchParams.getAll('scope').join(' ')}`,
            expires_in: 300,
          }),
        );
        return true;
      }
      const m = /^\/v2\/(.+)\/(manifests|blobs)\//.exec(url.pathname);
      const scope = m ? `repository:${m[1]}:pull` : '';
      if (req.headers.authorization !== `Bearer tok ${scope}`) {
        res.statusCode = 401;
        res.setHeader(
          'www-authenticate',
          `Bearer realm="http://127.0.0.1:${fake.port}/token",service="fake-registry",scope="${scope}"`,
        );
        res.end();
        return true;
      }
      if (m?.[2] === 'blobs' && req.method === 'GET') {
        res.statusCode = 307;
        res.setHeader(
          'location',
          `http://127.0.0.1:${storagePort}/blob/${url.pathname.split('/').pop()}?sig=1`,
        );
        res.end();
        return true;
      }
      return false;
    });
    serveImage(fake, img, 'v1');
    return fake;
  }

  it('fetches an anonymous token for the repository scope and follows blob redirects without it', async () => {
    const fake = await tokenRegistry();
    try {
      requireLogin = false;
      const r = await fetchImage(client, `${fake.host}/team/busybox:v1`, {
        plainHttp: true,
        hostsDir: NO_HOSTS,
      });
      expect(r.target.digest).toBe(img.manifest.digest);
      expect(tokenRequests.length).toBeGreaterThanOrEqual(1);
      const t = tokenRequests[0]!;
      expect(t.searchParams.get('service')).toBe('fake-registry');
      expect(t.searchParams.getAll('scope')).toEqual(['repository:team/busybox:pull']);
      expect(tokenAuth.every((a) => a === '')).toBe(true);
      // The token was cached: one token request for the whole pull.
      expect(tokenRequests).toHaveLength(1);
      // Storage got the blobs, but never the registry token.
      expect(storageAuth.length).toBeGreaterThanOrEqual(3);
      expect(storageAuth.every((a) => a === '')).toBe(true);
    } finally {
      await fake.close();
    }
  });

  it('needs credentials when the token server does, and sends them as basic auth', async () => {
    const fake = await tokenRegistry();
    try {
      requireLogin = true;
      tokenAuth.length = 0;
      const err = await fetchImage(client, `${fake.host}/team/busybox:v1`, {
        plainHttp: true,
        hostsDir: NO_HOSTS,
      }).catch((e) => e);
      expect(isBerthError(err, 'PermissionDenied')).toBe(true);
      expect(err.message).toMatch(
        /fetching anonymous token from http:\/\/127\.0\.0\.1:\d+\/token: 401/,
      );

      const wrong = await fetchImage(client, `${fake.host}/team/busybox:v1`, {
        plainHttp: true,
        hostsDir: NO_HOSTS,
        credentials: () => ({ username: TEST_USER, secret: 'nope' }),
      }).catch((e) => e);
      expect(wrong.message).toMatch(/401 Unauthorized \(credentials refused\)/);

      const r = await fetchImage(client, `${fake.host}/team/busybox:v1`, {
        plainHttp: true,
        hostsDir: NO_HOSTS,
        credentials: () => ({ username: TEST_USER, secret: TEST_PASSWORD }),
      });
      expect(r.target.digest).toBe(img.manifest.digest);
      expect(tokenAuth.at(-1)).toMatch(/^Basic /);
    } finally {
      await fake.close();
    }
  });
});
