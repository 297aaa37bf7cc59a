import http from 'node:http';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseListenAddress, serveMetrics } from './endpoint.js';

function get(target: { socketPath: string } | { host: string; port: number }, p: string) {
  return new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
    http
      .get({ ...target, path: p }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', body }),
        );
      })
      .on('error', reject);
  });
}

describe('metrics endpoint', () => {
  it.each([
    ['127.0.0.1:1338', { host: '127.0.0.1', port: 1338 }],
    ['localhost:9100', { host: 'localhost', port: 9100 }],
    ['[::1]:1338', { host: '::1', port: 1338 }],
    ['/run/berth/metrics.sock', { unix: '/run/berth/metrics.sock' }],
    ['unix:///run/berth/m.sock', { unix: '/run/berth/m.sock' }],
  ])('parses %s', (addr, want) => {
    expect(parseListenAddress(addr)).toEqual(want);
  });

  it.each(['1338', 'host', '127.0.0.1:0', '127.0.0.1:70000', 'relative/m.sock', '::1:1338'])(
    'refuses %s',
    (addr) => {
      expect(() => parseListenAddress(addr)).toThrow(/host:port or an absolute unix socket path/);
    },
  );

  describe('serving', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'berth-metrics-'));
    });
    afterEach(() => rm(dir, { recursive: true, force: true }));

    it('answers /v1/metrics and /metrics on a unix socket, 404 elsewhere, 500 when collecting fails', async () => {
      const socketPath = path.join(dir, 'm.sock');
      let fail = false;
      const errors: unknown[] = [];
      const ep = await serveMetrics(
        socketPath,
        async () => {
          if (fail) throw new Error('broken');
          return 'up 1\n';
        },
        (e) => errors.push(e),
      );
      try {
        expect(ep.address).toBe(socketPath);
        expect((await stat(socketPath)).mode & 0o777).toBe(0o660);
        for (const p of ['/v1/metrics', '/metrics']) {
          const r = await get({ socketPath }, p);
          expect(r).toEqual({
            status: 200,
            type: 'text/plain; version=0.0.4; charset=utf-8',
            body: 'up 1\n',
          });
        }
        expect((await get({ socketPath }, '/other')).status).toBe(404);
        fail = true;
        expect((await get({ socketPath }, '/metrics')).status).toBe(500);
        expect(errors).toHaveLength(1);
      } finally {
        await ep.close();
      }
      await expect(stat(socketPath)).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });
});
