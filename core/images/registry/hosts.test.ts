import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isBerthError } from '../../errors/catalogue.js';
import { apiBase, defaultHosts, hostsWith, loadHosts, parseHostsToml } from './hosts.js';

describe('hosts.toml', () => {
  it('defaults to the registry itself, Docker Hub to its API host', () => {
    expect(defaultHosts('docker.io').map(apiBase)).toEqual(['https://registry-1.docker.io/v2']);
    expect(defaultHosts('127.0.0.1:5000', true).map(apiBase)).toEqual(['http://127.0.0.1:5000/v2']);
    expect(defaultHosts('r.example')[0]).toMatchObject({
      capabilities: ['pull', 'resolve', 'push'],
      upstream: true,
      skipVerify: false,
    });
  });

  it('keeps headers named like Object.prototype members', () => {
    // Found by fuzzing: `__proto__` was assigned to the prototype and lost.
    const [mirror] = parseHostsToml(
      '[host."http://m.example".header]\n"__proto__" = "a"\n"constructor" = "b"\n',
      'r.example',
    );
    expect(Object.entries(mirror!.header)).toEqual([
      ['__proto__', 'a'],
      ['constructor', 'b'],
    ]);
  });

  it('lists mirrors in file order before the server', () => {
    const hosts = parseHostsToml(
      `
server = "https://registry.example.invalid"
ca = "upstream-ca.pem"

[host."http://127.0.0.1:5001"]
  capabilities = ["pull", "resolve"]

[host."https://mirror.example/custom/v2"]
  capabilities = ["pull"]
  skip_verify = true
  ca = ["/etc/a.pem", "b.pem"]
  [host."https://mirror.example/custom/v2".header]
    x-mirror = "yes"

[host."mirror2.example:8443/prefix"]
  override_path = true
`,
      'registry.example.invalid',
      { dir: '/etc/berth/certs.d/registry.example.invalid' },
    );
    expect(hosts.map(apiBase)).toEqual([
      'http://127.0.0.1:5001/v2',
      'https://mirror.example/custom/v2',
      'https://mirror2.example:8443/prefix',
      'https://registry.example.invalid/v2',
    ]);
    expect(hosts[1]).toMatchObject({
      capabilities: ['pull'],
      skipVerify: true,
      caFiles: ['/etc/a.pem', '/etc/berth/certs.d/registry.example.invalid/b.pem'],
      header: { 'x-mirror': 'yes' },
      upstream: false,
    });
    expect(hosts[3]).toMatchObject({
      upstream: true,
      caFiles: ['/etc/berth/certs.d/registry.example.invalid/upstream-ca.pem'],
      capabilities: ['pull', 'resolve', 'push'],
    });
    expect(hostsWith(hosts, 'resolve').map((h) => h.host)).toEqual([
      '127.0.0.1:5001',
      'mirror2.example:8443',
      'registry.example.invalid',
    ]);
    expect(hostsWith(hosts, 'push').map((h) => h.host)).toEqual([
      'mirror2.example:8443',
      'registry.example.invalid',
    ]);
  });

  it('applies plain-http to hosts without a scheme, and top-level capabilities to the server', () => {
    const hosts = parseHostsToml(
      'capabilities = ["pull", "resolve"]\n[host."m:5000"]\n',
      'r.example',
      { plainHttp: true },
    );
    expect(hosts.map(apiBase)).toEqual(['http://m:5000/v2', 'http://r.example/v2']);
    expect(hosts[1]!.capabilities).toEqual(['pull', 'resolve']);
  });

  it.each([
    ['server = 5', /server must be a string/],
    ['[host."ftp://x"]', /unsupported scheme/],
    ['[host."https://x"]\ncapabilities = ["fly"]', /unknown capability/],
    ['[host."https://x"]\nskip_verify = "yes"', /skip_verify/],
    ['this is not toml', /hosts.toml/],
  ])('refuses %j', (text, msg) => {
    let err: unknown;
    try {
      parseHostsToml(text, 'r.example');
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toMatch(msg);
  });

  describe('loadHosts', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-hosts-'));
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('reads <dir>/<host>/hosts.toml, then _default, then falls back', async () => {
      fs.mkdirSync(path.join(dir, 'r.example:5000'));
      fs.writeFileSync(
        path.join(dir, 'r.example:5000', 'hosts.toml'),
        '[host."http://127.0.0.1:1"]\ncapabilities = ["pull"]\n',
      );
      expect((await loadHosts('r.example:5000', { hostsDir: dir })).map(apiBase)).toEqual([
        'http://127.0.0.1:1/v2',
        'https://r.example:5000/v2',
      ]);
      expect((await loadHosts('other.example', { hostsDir: dir })).map(apiBase)).toEqual([
        'https://other.example/v2',
      ]);
      fs.mkdirSync(path.join(dir, '_default'));
      fs.writeFileSync(path.join(dir, '_default', 'hosts.toml'), '[host."https://all.example"]\n');
      expect((await loadHosts('other.example', { hostsDir: dir })).map(apiBase)).toEqual([
        'https://all.example/v2',
        'https://other.example/v2',
      ]);
    });
  });
});
