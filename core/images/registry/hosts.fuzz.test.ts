import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BerthError } from '../../errors/catalogue.js';
import { expectClearError, fuzz, thrown, trickyString } from '../../../api/fuzz.js';
import { ALL_CAPABILITIES, parseHostsToml, type RegistryHost } from './hosts.js';

// TOML basic strings take JSON's escapes, so JSON.stringify writes valid TOML
// for well-formed text.
const q = (s: string) => JSON.stringify(s);
const text = fc.string({ unit: 'grapheme', maxLength: 12 });
// No hyphens: an `xn--` label is punycode, which the URL parser rightly refuses when invalid.
const hostname = fc.stringMatching(/^[a-z][a-z0-9]{0,10}(\.[a-z]{2,5})?(:[1-9][0-9]{0,3})?$/);
const headerName = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/),
  fc.constantFrom('__proto__', 'constructor', 'toString'),
);

interface Mirror {
  scheme: string;
  host: string;
  capabilities: string[];
  skipVerify: boolean;
  header: Record<string, string>;
}

const mirror: fc.Arbitrary<Mirror> = fc.record({
  scheme: fc.constantFrom('http', 'https'),
  host: hostname,
  capabilities: fc.subarray([...ALL_CAPABILITIES], { minLength: 1 }),
  skipVerify: fc.boolean(),
  header: fc.dictionary(headerName, text, { maxKeys: 3 }),
});

function toml(server: string, mirrors: Mirror[]): string {
  const lines = [`server = ${q(`https://${server}`)}`];
  for (const m of mirrors) {
    const key = q(`${m.scheme}://${m.host}`);
    lines.push(`[host.${key}]`, `capabilities = [${m.capabilities.map(q).join(', ')}]`);
    lines.push(`skip_verify = ${m.skipVerify}`, `[host.${key}.header]`);
    for (const [k, v] of Object.entries(m.header)) lines.push(`${q(k)} = ${q(v)}`);
  }
  return lines.join('\n');
}

/** TOML-shaped noise: keys, tables, values, deep nesting and long runs. */
const token = fc.oneof(
  fc.constantFrom('server', 'host', 'capabilities', 'header', 'ca', 'skip_verify', 'override_path'),
  fc.constantFrom('[', ']', '[[', ']]', '{', '}', '=', '.', ',', '"', "'", '"""', '\n', ' ', '#'),
  fc.constantFrom(
    'true',
    '1979-05-27T07:32:00Z',
    '1e400',
    'inf',
    'nan',
    '0x10',
    '"http://"',
    '"ftp://x"',
  ),
  fc.integer({ min: 1, max: 5000 }).map((n) => `x = ${'['.repeat(n)}${']'.repeat(n)}\n`),
  fc.integer({ min: 1, max: 5000 }).map((n) => `x = ${'{a='.repeat(n)}1${'}'.repeat(n)}\n`),
  trickyString,
);
const hostile = fc.oneof(
  fc.array(token, { maxLength: 30 }).map((ts) => ts.join('')),
  fc.string({ unit: 'binary', maxLength: 200 }),
);

describe('hosts.toml (fuzz)', () => {
  it('reads back the mirrors, capabilities and headers a file lists', async () => {
    await fuzz(
      'hosts.toml round trip',
      fc.property(
        hostname,
        fc.uniqueArray(mirror, { selector: (m) => m.host, maxLength: 3 }),
        (server, mirrors) => {
          const hosts = parseHostsToml(toml(server, mirrors), 'r.example');
          expect(hosts.map((h: RegistryHost) => [h.scheme, h.host, h.upstream])).toEqual([
            ...mirrors.map((m) => [m.scheme, new URL(`${m.scheme}://${m.host}`).host, false]),
            ['https', new URL(`https://${server}`).host, true],
          ]);
          mirrors.forEach((m, i) => {
            expect(hosts[i]!.capabilities).toEqual(m.capabilities);
            expect(hosts[i]!.skipVerify).toBe(m.skipVerify);
            expect(Object.entries(hosts[i]!.header)).toEqual(Object.entries(m.header));
          });
        },
      ),
    );
  });

  it('refuses hostile files only with a clear InvalidArgument', async () => {
    await fuzz(
      'hosts.toml hostile',
      fc.property(hostile, (file) => {
        let hosts: RegistryHost[] = [];
        const err = thrown(() => (hosts = parseHostsToml(file, 'r.example')));
        if (err !== undefined) {
          expectClearError(err, BerthError);
          expect((err as BerthError).code).toBe('InvalidArgument');
          expect((err as Error).message).not.toMatch(/call stack/);
          return;
        }
        for (const h of hosts) {
          expect(['http', 'https']).toContain(h.scheme);
          expect(h.path.endsWith('/v2') || h.path === '' || h.path.startsWith('/')).toBe(true);
        }
      }),
    );
  });
});
