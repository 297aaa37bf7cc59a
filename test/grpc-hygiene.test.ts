// HTTP/2 connection hygiene on berthd's gRPC socket: connections that break the
// protocol are closed (no fd leaks, even with a low fd limit), one connection
// cannot open streams without bound, an oversized request gets
// RESOURCE_EXHAUSTED, and a connection that never speaks is closed.

import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { Client, credentials, Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VersionClient } from '../api/gen/containerd/services/version/v1/version.js';
import { type TestDaemon, run, startDaemon } from './helpers/daemon.js';
import { goBuild } from './helpers/go-build.js';
import { CLIENT_PREFACE, frame, grpcRequest, literal, RawH2 } from './helpers/h2-raw.js';

const VERSION = '/containerd.services.version.v1.Version/Version';
/** Low enough that one leaked fd per bad connection would exhaust it within the test. */
const FD_LIMIT = 256;
const SETTINGS = frame(0x4, 0, 0);
const MiB = 1 << 20;
const GO_BUILD_TIMEOUT_MS = 600_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Connects, sends `bytes`, keeps its own side open, and resolves when berthd closes the socket. */
function badConnection(address: string, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(address, () => s.write(bytes));
    s.on('data', () => undefined);
    // berthd may close before our bytes are all written.
    s.on('error', (err: NodeJS.ErrnoException) =>
      err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err),
    );
    s.on('close', () => resolve());
  });
}

describe('gRPC connection hygiene', () => {
  let d: TestDaemon;
  let pid: number;
  let kubeletDial: Promise<string | { missing: string }>;

  // A first build downloads grpc-go and cri-api from the module proxy.
  beforeAll(() => {
    kubeletDial = goBuild('kubelet-dial');
    return kubeletDial.then(() => undefined);
  }, GO_BUILD_TIMEOUT_MS);
  const fds = () => readdirSync(`/proc/${pid}/fd`).length;
  const rssMiB = () =>
    Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

  /** Waits for a line in berthd's log (it reaches us through a pipe, a moment after the event). */
  const logged = async (text: string) => {
    while (!d.logs().includes(text)) await sleep(50);
  };

  const version = () =>
    new Promise<string>((resolve, reject) => {
      const c = new VersionClient(`unix://${d.address}`, credentials.createInsecure());
      c.version({}, new Metadata(), (err, res) => {
        c.close();
        return err ? reject(err) : resolve(res!.version);
      });
    });

  beforeAll(async () => {
    d = await startDaemon();
    pid = d.proc.pid!;
    const r = await run('prlimit', [`--pid=${pid}`, `--nofile=${FD_LIMIT}:${FD_LIMIT}`]);
    expect(r.stderr).toBe('');
  });
  afterAll(async () => {
    await d?.dispose();
  });

  it('closes 500 connections that break the protocol, leaking no fd, and keeps serving', async () => {
    const kinds = [
      // Frames that are not frames.
      Buffer.concat([CLIENT_PREFACE, Buffer.alloc(30, 0xff)]),
      // A header block that does not decode.
      Buffer.concat([CLIENT_PREFACE, SETTINGS, frame(0x1, 0x5, 1, Buffer.from([0xbf]))]),
      // CONTINUATION with no HEADERS before it.
      Buffer.concat([CLIENT_PREFACE, SETTINGS, frame(0x9, 0x4, 1, Buffer.from([0x82]))]),
      // A SETTINGS acknowledgement with a payload.
      Buffer.concat([CLIENT_PREFACE, SETTINGS, frame(0x4, 0x1, 0, Buffer.alloc(6))]),
      // Not HTTP/2 at all.
      Buffer.from('GET / HTTP/1.1\r\nHost: berth\r\n\r\n'),
    ];
    await version();
    const [fdsBefore, rssBefore] = [fds(), rssMiB()];
    const BATCH = 50;
    for (let i = 0; i < 500; i += BATCH) {
      await Promise.all(
        Array.from({ length: BATCH }, (_, j) =>
          badConnection(d.address, kinds[(i + j) % kinds.length]!),
        ),
      );
    }
    // berthd may close its end a moment after ours reports the close.
    while (fds() > fdsBefore + 8) await sleep(50);
    expect(await version()).toMatch(/^v/);
    expect(rssMiB() - rssBefore).toBeLessThan(100);
    await logged('gRPC connection closed: HTTP/2 connection error');
    await logged('gRPC connection closed: not an HTTP/2 client preface');
  });

  it('bounds the streams one connection may open, and memory stays flat after a flood', async () => {
    const rssBefore = rssMiB();
    const conn = await RawH2.connect(d.address);
    try {
      conn.write(CLIENT_PREFACE, SETTINGS);
      const settings = await conn.until((f) => f.type === 0x4 && !(f.flags & 0x1));
      const limits = new Map<number, number>();
      for (let at = 0; at + 6 <= settings!.payload.length; at += 6) {
        limits.set(settings!.payload.readUInt16BE(at), settings!.payload.readUInt32BE(at + 2));
      }
      expect(limits.get(0x3)).toBe(1000); // SETTINGS_MAX_CONCURRENT_STREAMS
      // Wait for berthd to see our acknowledgement, so the limit is in force.
      conn.write(frame(0x6, 0, 0, Buffer.alloc(8)));
      await conn.until((f) => f.type === 0x6 && (f.flags & 0x1) !== 0);
      // Requests that never send their message: every stream stays open.
      const block = grpcRequest(VERSION, literal(':authority', 'localhost'));
      const flood: Buffer[] = [];
      for (let i = 0; i < 20_000; i++) flood.push(frame(0x1, 0x4, 1 + 2 * i, block));
      conn.write(...flood);
      // A client that ignores the advertised limit loses the connection.
      await conn.closed;
    } finally {
      conn.destroy();
    }
    expect(await version()).toMatch(/^v/);
    expect(rssMiB() - rssBefore).toBeLessThan(100);
  });

  it('answers a 50 MiB request with RESOURCE_EXHAUSTED', async (ctx) => {
    const c = new Client(`unix://${d.address}`, credentials.createInsecure());
    try {
      const err = await new Promise<{ code: number; details: string } | null>((resolve) =>
        c.makeUnaryRequest(
          VERSION,
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.alloc(50 * MiB),
          (e) => resolve(e),
        ),
      );
      expect(err?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(err?.details).toMatch(/larger than max/);
    } finally {
      c.close();
    }
    const bin = await kubeletDial;
    if (typeof bin !== 'string') return ctx.skip(bin.missing);
    const r = await run(bin, ['-socket', d.address, '-oversize-mib', '50'], { timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('oversize code=ResourceExhausted');
  });

  it('closes a connection that never sends the HTTP/2 preface', async () => {
    await badConnection(d.address, Buffer.alloc(0));
    await logged('gRPC connection closed: no HTTP/2 client preface in time');
  });
});
