// Every client's :authority gets through berthd's gRPC socket: the socket path
// grpc-go <= 1.49 clients send (kubelet 1.26), its %-encoded form (grpc core),
// localhost, and none at all. nghttp2 inside Node's http2 resets the path and
// the missing authority with PROTOCOL_ERROR unless the front door fixes them.

import http2 from 'node:http2';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VersionResponse } from '../api/gen/containerd/services/version/v1/version.js';
import { VersionResponse as CriVersionResponse } from '../api/gen/cri/runtime/v1/api.js';
import { type TestDaemon, run, startDaemon } from './helpers/daemon.js';
import { goBuild } from './helpers/go-build.js';
import { CLIENT_PREFACE, frame, grpcRequest, RawH2 } from './helpers/h2-raw.js';

const GO_BUILD_TIMEOUT_MS = 600_000;
const CONTAINERD_VERSION = '/containerd.services.version.v1.Version/Version';
const CRI_VERSION = '/runtime.v1.RuntimeService/Version';
/** An empty message in gRPC's length-prefixed framing. */
const EMPTY_MESSAGE = Buffer.alloc(5);

interface Reply {
  rst?: number;
  status?: string;
  message: Buffer;
}

/** One unary call by hand on a Node http2 session, with the :authority given. */
function unary(session: http2.ClientHttp2Session, path: string, authority: string): Promise<Reply> {
  return new Promise((resolve) => {
    const s = session.request({
      ':method': 'POST',
      ':path': path,
      ':authority': authority,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const data: Buffer[] = [];
    let status: string | undefined;
    s.on('data', (d: Buffer) => data.push(d));
    s.on('trailers', (t) => (status = String(t['grpc-status'])));
    s.on('error', () => undefined);
    s.on('close', () =>
      resolve({ rst: s.rstCode || undefined, status, message: Buffer.concat(data).subarray(5) }),
    );
    s.end(EMPTY_MESSAGE);
  });
}

describe('gRPC :authority', () => {
  let d: TestDaemon;
  let session: http2.ClientHttp2Session;
  let kubeletDial: Promise<string | { missing: string }>;

  // A first build downloads grpc-go and cri-api from the module proxy.
  beforeAll(() => {
    kubeletDial = goBuild('kubelet-dial');
    return kubeletDial.then(() => undefined);
  }, GO_BUILD_TIMEOUT_MS);

  beforeAll(async () => {
    d = await startDaemon();
    session = http2.connect('http://localhost', { createConnection: () => net.connect(d.address) });
    session.on('error', () => undefined);
  });
  afterAll(async () => {
    session?.destroy();
    await d?.dispose();
  });

  it('answers containerd and CRI Version whatever the :authority', async () => {
    for (const authority of [d.address, encodeURIComponent(d.address), 'localhost', d.address]) {
      const v = await unary(session, CONTAINERD_VERSION, authority);
      expect(v, authority).toMatchObject({ rst: undefined, status: '0' });
      expect(VersionResponse.decode(v.message).version).toMatch(/^v\d/);
      const c = await unary(session, CRI_VERSION, authority);
      expect(c, authority).toMatchObject({ rst: undefined, status: '0' });
      expect(CriVersionResponse.decode(c.message).runtimeName).toBe('berth');
    }
  });

  it('answers a request that carries no :authority at all', async () => {
    const conn = await RawH2.connect(d.address);
    try {
      conn.write(
        CLIENT_PREFACE,
        frame(0x4, 0, 0),
        frame(0x1, 0x4, 1, grpcRequest(CONTAINERD_VERSION)),
        frame(0x0, 0x1, 1, EMPTY_MESSAGE),
      );
      const end = await conn.until(
        (f) => f.stream === 1 && (f.type === 0x3 || f.flags & 0x1) !== 0,
      );
      expect(end?.type).toBe(0x1);
      expect(end?.headers?.['grpc-status']).toBe('0');
    } finally {
      conn.destroy();
    }
  });

  it('serves a Go client that dials the way kubelet 1.26 does', async (ctx) => {
    const bin = await kubeletDial;
    if (typeof bin !== 'string') return ctx.skip(bin.missing);
    const r = await run(bin, ['-socket', d.address], { timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^cri runtime=berth version=\S+ api=v1$/m);
    expect(r.stdout).toMatch(/^containerd version=v\S+ revision=\S+$/m);
  });
});
