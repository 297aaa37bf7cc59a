import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { defaultConfig, normaliseConfig, renderConfig, ttrpcAddressOf } from './config.js';

describe('daemon config', () => {
  it('fills defaults and keeps plugin tables', () => {
    const cfg = normaliseConfig({
      root: '/tmp/r',
      plugins: { 'io.berth.x.v1.y': { a: 1 } },
      grpc: { address: '/tmp/s.sock' },
    });
    expect(cfg.root).toBe('/tmp/r');
    expect(cfg.state).toBe('/run/berth');
    expect(cfg.grpc).toEqual({ address: '/tmp/s.sock', uid: 0, gid: 0 });
    expect(cfg.plugins).toEqual({ 'io.berth.x.v1.y': { a: 1 } });
  });

  it.each([
    [{ bogus: 1 }, /unknown key "bogus"/],
    [{ version: 3 }, /unsupported config version/],
    [{ root: 'relative' }, /absolute/],
    [{ debug: { level: 'loud' } }, /debug.level/],
    [{ required_plugins: 'x' }, /list of strings/],
    [{ metrics: { address: '1338' } }, /metrics address "1338" must be host:port/],
    [{ tracing: { endpoint: 'grpc://h:4317' } }, /tracing.endpoint: .*http/],
    [{ tracing: { sampling_ratio: 2 } }, /sampling_ratio must be a number from 0 to 1/],
  ])('rejects %j', (doc, re) => {
    expect(() => normaliseConfig(doc as Record<string, unknown>)).toThrow(re);
  });

  it('has metrics and tracing off by default, and takes their keys', () => {
    const def = defaultConfig();
    expect(def.metrics).toEqual({ address: '' });
    expect(def.tracing).toEqual({ endpoint: '', sampling_ratio: 1, service_name: 'berthd' });
    const cfg = normaliseConfig({
      metrics: { address: '127.0.0.1:1338' },
      tracing: { endpoint: 'http://127.0.0.1:4318', sampling_ratio: 0.25, service_name: 'node-a' },
    });
    expect(cfg.metrics.address).toBe('127.0.0.1:1338');
    expect(cfg.tracing).toEqual({
      endpoint: 'http://127.0.0.1:4318',
      sampling_ratio: 0.25,
      service_name: 'node-a',
    });
    const text = renderConfig(def, [], { derived: false });
    expect(text).toContain('[metrics]\naddress = ""');
    expect(text).toContain('[tracing]\nendpoint = ""');
  });

  it('renders every plugin table and round-trips', () => {
    const cfg = defaultConfig();
    cfg.plugins['io.berth.t.v1.a'] = { n: 2 };
    const text = renderConfig(cfg, [
      { type: 'io.berth.t.v1', id: 'a', config: { n: 1, m: 'x' }, init: () => 0 },
    ]);
    const back = normaliseConfig(parse(text) as Record<string, unknown>);
    expect(back.plugins['io.berth.t.v1.a']).toEqual({ n: 2, m: 'x' });
    expect(back.ttrpc.address).toBe('/run/berth/berth.sock.ttrpc');
  });

  it('leaves the ttrpc address derived in a default config, resolved in a dump', () => {
    const cfg = defaultConfig();
    const def = parse(renderConfig(cfg, [], { derived: false })) as { ttrpc: { address: string } };
    expect(def.ttrpc.address).toBe('');
    // A config written from the default and moved to another socket follows it.
    const moved = normaliseConfig({ ...def, grpc: { address: '/tmp/b/berth.sock' } });
    expect(ttrpcAddressOf(moved)).toBe('/tmp/b/berth.sock.ttrpc');
    const dump = parse(renderConfig(cfg, [])) as { ttrpc: { address: string } };
    expect(dump.ttrpc.address).toBe(`${cfg.grpc.address}.ttrpc`);
  });
});
