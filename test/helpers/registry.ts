// Debian's docker-registry (distribution 2.x) on 127.0.0.1 for integration
// tests: a temporary config and storage directory, a free port, optional
// htpasswd basic auth, stopped by PID.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { digestOf } from '../../core/content/digest.js';
import { MediaType } from '../../core/images/oci/media-types.js';
import type { Descriptor } from '../../core/images/oci/types.js';
import { pushBlob, pushManifest } from '../../core/images/registry/pusher.js';
import { Repository, type RegistryOptions } from '../../core/images/registry/repository.js';

export const DOCKER_REGISTRY = '/usr/bin/docker-registry';
export const haveDockerRegistry = existsSync(DOCKER_REGISTRY);

/**
 * Basic-auth user of the htpasswd variant. The registry only reads bcrypt
 * entries; this one was computed once (cost 5) for TEST_PASSWORD.
 */
export const TEST_USER = 'berth';
export const TEST_PASSWORD = 'berth-test-password';
const TEST_HTPASSWD = `${TEST_USER}:$2b$05$Gx5lrSsaZ0888MTUX.jSG.hKOVkRqkqo6nnvUoedId6vNCEGKgNT6\n`;

export interface TestRegistry {
  /** `127.0.0.1:<port>`, the registry host part of references. */
  host: string;
  port: number;
  dir: string;
  proc: ChildProcess;
  logs: () => string;
  dispose(): Promise<void>;
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function probe(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/v2/', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('error', reject);
    req.once('timeout', () => req.destroy(new Error('timeout')));
  });
}

export async function startRegistry(opts: { htpasswd?: boolean } = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-registry-'));
  const port = await freePort();
  const auth = opts.htpasswd
    ? `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${path.join(dir, 'htpasswd')}\n`
    : '';
  if (opts.htpasswd) await writeFile(path.join(dir, 'htpasswd'), TEST_HTPASSWD);
  const config = `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${path.join(dir, 'data')}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
${auth}`;
  const cfgFile = path.join(dir, 'config.yml');
  await writeFile(cfgFile, config);
  let output = '';
  const proc = spawn(DOCKER_REGISTRY, ['serve', cfgFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  proc.stdout!.on('data', (b) => (output += b));
  proc.stderr!.on('data', (b) => (output += b));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) {
      await stop();
      throw new Error(`docker-registry exited with ${proc.exitCode}:\n${output}`);
    }
    const status = await probe(port).catch(() => 0);
    if (status === 200 || status === 401) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not answer on ${port}:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host: `127.0.0.1:${port}`, port, dir, proc, logs: () => output, dispose: stop };
}

/** What seeding a registry needs of a built fixture image. */
export interface ImageBlobs {
  manifest: { mediaType: string; digest: string; size: number };
  /** The index over `manifest` (with its platform). */
  index: Buffer;
  blobs: Map<string, Buffer>;
}

/**
 * Pushes a built image with the registry library: blobs, the manifest under
 * `tag`, and with `indexTag` the index too. Returns the index descriptor.
 */
export async function seedImage(
  img: ImageBlobs,
  repository: string,
  tags: { tag?: string; indexTag?: string },
  opts: RegistryOptions & { chunkSize?: number } = {},
) {
  const repo = await Repository.open(`${repository}:${tags.tag ?? tags.indexTag ?? 'latest'}`, {
    plainHttp: true,
    hostsDir: '/nonexistent',
    retry: { attempts: 1 },
    ...opts,
  });
  try {
    const manifest = JSON.parse(img.blobs.get(img.manifest.digest)!.toString('utf8')) as {
      config: Descriptor;
      layers: Descriptor[];
    };
    for (const b of [...manifest.layers, manifest.config]) {
      const data = img.blobs.get(b.digest)!;
      await pushBlob(
        repo,
        b,
        async function* () {
          // small pieces, so a chunked upload spans several reads
          for (let i = 0; i < data.length; i += 16 << 10) yield data.subarray(i, i + (16 << 10));
        },
        { chunkSize: opts.chunkSize },
      );
    }
    const m = img.blobs.get(img.manifest.digest)!;
    const mdesc = {
      mediaType: img.manifest.mediaType,
      digest: img.manifest.digest,
      size: m.length,
    };
    await pushManifest(repo, mdesc, m, tags.tag ?? mdesc.digest);
    const idesc = {
      mediaType: MediaType.OCIIndex,
      digest: digestOf(img.index),
      size: img.index.length,
    };
    if (tags.indexTag) await pushManifest(repo, idesc, img.index, tags.indexTag);
    return { index: idesc, manifest: mdesc };
  } finally {
    repo.close();
  }
}

export type FakeHandler = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
) => boolean | Promise<boolean>;

export interface FakeRegistry {
  host: string;
  port: number;
  /** Every request as `METHOD path?query`. */
  requests: string[];
  /** Authorization headers seen, in order ('' for none). */
  authorizations: string[];
  /** Manifests by tag or digest: media type and bytes. */
  manifests: Map<string, { mediaType: string; data: Buffer }>;
  blobs: Map<string, Buffer>;
  close(): Promise<void>;
}

/**
 * A minimal read-only registry on 127.0.0.1 serving manifests and blobs from
 * memory, for fault and auth cases the real registry cannot produce. `hook`
 * sees each request first and may answer it (returning true).
 */
export async function startFakeRegistry(hook?: FakeHandler): Promise<FakeRegistry> {
  const fake = {
    requests: [] as string[],
    authorizations: [] as string[],
    manifests: new Map<string, { mediaType: string; data: Buffer }>(),
    blobs: new Map<string, Buffer>(),
  };
  const sockets = new Set<net.Socket>();
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    fake.requests.push(`${req.method} ${url.pathname}${url.search}`);
    fake.authorizations.push(req.headers.authorization ?? '');
    try {
      if (hook && (await hook(req, res, url))) return;
    } catch (err) {
      res.statusCode = 500;
      res.end(String(err));
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (url.pathname === '/v2/' || url.pathname === '/v2') {
      res.end('{}');
      return;
    }
    const notFound = () => {
      res.statusCode = 404;
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }),
      );
    };
    if (!m || (req.method !== 'GET' && req.method !== 'HEAD')) return notFound();
    if (m[2] === 'manifests') {
      const entry = fake.manifests.get(m[3]!);
      if (!entry) return notFound();
      res.setHeader('content-type', entry.mediaType);
      res.setHeader('content-length', entry.data.length);
      res.setHeader('docker-content-digest', digestOf(entry.data));
      res.end(req.method === 'HEAD' ? undefined : entry.data);
      return;
    }
    const blob = fake.blobs.get(m[3]!);
    if (!blob) {
      res.statusCode = 404;
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry' }] }),
      );
      return;
    }
    res.setHeader('content-type', 'application/octet-stream');
    res.setHeader('content-length', blob.length);
    res.end(req.method === 'HEAD' ? undefined : blob);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return Object.assign(fake, {
    host: `127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  });
}

/** Serves a built image from a fake registry: manifest under `tag`, index under `indexTag`. */
export function serveImage(
  fake: FakeRegistry,
  img: ImageBlobs,
  tag: string,
  indexTag?: string,
): void {
  for (const [d, b] of img.blobs) fake.blobs.set(d, b);
  const m = { mediaType: img.manifest.mediaType, data: img.blobs.get(img.manifest.digest)! };
  fake.manifests.set(tag, m);
  fake.manifests.set(img.manifest.digest, m);
  if (indexTag) {
    const i = { mediaType: MediaType.OCIIndex, data: img.index };
    fake.manifests.set(indexTag, i);
    fake.manifests.set(digestOf(img.index), i);
  }
}
