// The berth CLI's shared behaviour against a real berthd: `--format` on every
// list verb, shell completion (the scripts, `__complete`, and the bash
// function run by bash itself), and the exit statuses of docs/cli.md.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import { OCI_SPEC_TYPE_URL, packJson } from '../core/protobuf/typeurl.js';
import { berth, distCmd, run, startDaemon, type TestDaemon } from './helpers/daemon.js';

const NS = `polish${process.pid}`;
const IMAGE = 'example.com/polish/app:1.0';
const haveZsh = spawnSync('zsh', ['--version']).status === 0;

describe('berth CLI: --format, completion, exit codes', () => {
  let d: TestDaemon;
  let client: Client;
  let digest: string;
  let nowhere: { address: string };
  const cli = (...args: string[]) => berth(d, args, { namespace: NS });

  beforeAll(async () => {
    d = await startDaemon();
    nowhere = { address: path.join(d.dir, 'nothing.sock') };
    client = new Client({ address: d.address, namespace: NS });
    await client.namespaces.create(NS, { team: 'cli' });
    for (const [id, app] of [
      ['a1', 'web'],
      ['b2', 'db'],
    ] as const) {
      await client.containers.create({
        id,
        labels: { app },
        runtime: { name: 'io.containerd.runc.v2', options: undefined },
        spec: packJson(OCI_SPEC_TYPE_URL, { process: { args: ['true'] } }),
      });
    }
    // A lease keeps the blob and the snapshot from the collector while the test runs.
    await client.leases.create({ id: 'keep', labels: { why: 'test' } });
    const data = Buffer.from('{"hello":"berth"}');
    digest = await client.content.ingest(
      'polish-blob',
      (async function* () {
        yield data;
      })(),
      { expectedSize: data.length },
    );
    await client.leases.addResource('keep', { id: digest, type: 'content' });
    await client.images.create({
      name: IMAGE,
      target: {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest,
        size: data.length,
      },
    });
    await client.leases.addResource('keep', { id: 'snap-1', type: 'snapshots/overlayfs' });
    await client.snapshots().prepare('snap-1', '', {});
  });

  afterAll(async () => {
    if (client) {
      await client
        .snapshots()
        .remove('snap-1')
        .catch(() => {});
      await client.images.delete(IMAGE).catch(() => {});
      await client.leases.delete('keep').catch(() => {});
      for (const id of ['a1', 'b2']) await client.containers.delete(id).catch(() => {});
      client.close();
    }
    await d?.dispose();
  });

  describe('--format', () => {
    // Each list verb: a template, and the lines it must print.
    const cases: [string[], string, (lines: string[]) => void][] = [
      [['namespaces', 'ls'], '{{.name}}:{{.labels}}', (l) => expect(l).toContain(`${NS}:team=cli`)],
      [
        ['containers', 'ls'],
        '{{.ID}} {{.Labels}}',
        (l) => expect(l).toEqual(['a1 app=web', 'b2 app=db']),
      ],
      [['tasks', 'ls'], '{{.id}}', (l) => expect(l).toEqual([])],
      [['tasks', 'metrics'], '{{.ID}}', (l) => expect(l).toEqual([])],
      [
        ['images', 'ls'],
        '{{.Name}} {{.Target.Digest}}',
        (l) => expect(l).toEqual([`${IMAGE} ${digest}`]),
      ],
      [['snapshots', 'ls'], '{{.Name}}/{{.Kind}}', (l) => expect(l).toEqual(['snap-1/Active'])],
      [['snapshots', 'usage'], '{{.Key}}', (l) => expect(l).toEqual(['snap-1'])],
      [['content', 'ls'], '{{.Digest}} {{.Size}}', (l) => expect(l).toEqual([`${digest} 17`])],
      [['content', 'active'], '{{.Ref}}', (l) => expect(l).toEqual([])],
      [
        ['leases', 'ls'],
        '{{.ID}} {{index .Labels "why"}}',
        (l) => expect(l).toEqual(['keep test']),
      ],
      [
        ['leases', 'resources', 'keep'],
        '{{.Type}}',
        (l) => expect(l.sort()).toEqual(['content', 'snapshots/overlayfs']),
      ],
      [
        ['plugins', 'ls'],
        '{{.type}}/{{.id}}',
        (l) => expect(l).toContain('io.berth.grpc.v1/namespaces'),
      ],
    ];

    it.each(cases)(
      '%j: json, a template, and the table by default',
      async (verb, template, check) => {
        const json = await cli(...verb, '--format', 'json');
        expect(json.code, json.stderr).toBe(0);
        const items = JSON.parse(json.stdout) as unknown[];
        expect(Array.isArray(items)).toBe(true);
        // --json is the same as --format json.
        expect((await cli(...verb, '--json')).stdout).toBe(json.stdout);

        const templated = await cli(...verb, '--format', template);
        expect(templated.code, templated.stderr).toBe(0);
        const lines = templated.stdout.split('\n').filter(Boolean);
        expect(lines).toHaveLength(items.length);
        check(lines);

        // {{json .}} prints each item as `--format json` does.
        const each = await cli(...verb, '--format', '{{json .}}');
        expect(
          each.stdout
            .split('\n')
            .filter(Boolean)
            .map((x) => JSON.parse(x)),
        ).toEqual(items);

        // The same table as without --format (ages aside: content ls has an AGE column).
        const shape = (out: string) => out.split('\n').map((l) => l.split(/\s{2,}/)[0]);
        const table = await cli(...verb, '--format', 'table');
        expect(shape(table.stdout)).toEqual(shape((await cli(...verb)).stdout));
        expect(table.stdout.split('\n')).toHaveLength(items.length + 2);
      },
    );

    it('turns \\t into a tab, and refuses bad formats as usage errors', async () => {
      expect((await cli('c', 'ls', '--format', '{{.ID}}\\t{{.Image}}')).stdout).toBe(
        'a1\t\nb2\t\n',
      );
      const bad = await cli('containers', 'ls', '--format', 'yaml');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/argument 'yaml' is invalid\. Use table, json or a template/);
      const unclosed = await cli('images', 'ls', '--format', '{{.Name');
      expect(unclosed.code).toBe(2);
      expect(unclosed.stderr).toMatch(/template: unclosed action/);
      const typo = await cli('containers', 'ls', '--format', '{{.Id}}');
      expect(typo.code).toBe(2);
      expect(typo.stderr).toMatch(/template: no field "Id"; fields: ID, Labels, Image/);
    });
  });

  describe('completion', () => {
    it('prints a bash script that defines the function and registers it', async () => {
      const r = await cli('completion', 'bash');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^_berth\(\) \{$/m);
      expect(r.stdout).toMatch(/__complete/);
      expect(r.stdout).toMatch(/^complete -o default -F _berth berth$/m);
      const syntax = await run('bash', ['-n'], { input: r.stdout });
      expect(syntax.code, syntax.stderr).toBe(0);
    });

    it('prints a zsh script for compdef', async () => {
      const r = await cli('completion', 'zsh');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^#compdef berth$/m);
      expect(r.stdout).toMatch(/^_berth\(\) \{$/m);
      expect(r.stdout).toMatch(/compdef _berth berth/);
      if (haveZsh) expect((await run('zsh', ['-n'], { input: r.stdout })).code).toBe(0);
    });

    it('__complete lists verbs, flags (not after --), and names from the daemon', async () => {
      const verbs = (await cli('__complete', '')).stdout.split('\n');
      expect(verbs).toEqual(
        expect.arrayContaining(['containers', 'images', 'stats', 'completion']),
      );
      expect(verbs).not.toContain('__complete');
      expect((await cli('__complete', 'containers', 'rm', '')).stdout).toBe('a1\nb2\n');
      expect((await cli('__complete', 'c', 'info', 'b')).stdout).toBe('b2\n');
      expect((await cli('__complete', 'images', 'rm', '')).stdout).toBe(`${IMAGE}\n`);
      expect((await cli('__complete', 'snapshots', 'rm', '')).stdout).toBe('snap-1\n');
      expect((await cli('__complete', 'leases', 'rm', '')).stdout).toBe('keep\n');
      expect((await cli('__complete', '-n', '')).stdout.split('\n')).toContain(NS);
      const flags = (await cli('__complete', 'containers', 'ls', '--')).stdout.split('\n');
      expect(flags).toEqual(expect.arrayContaining(['--quiet', '--format', '--json']));
      expect((await cli('__complete', 'run', 'img', 'id', '--', '--')).stdout).toBe('');
    });

    it('__complete still offers verbs and flags without a daemon, and no names', async () => {
      const names = await berth(nowhere, ['__complete', 'containers', 'rm', '']);
      expect(names).toMatchObject({ code: 0, stdout: '' });
      const verbs = await berth(nowhere, ['__complete', 'ta']);
      expect(verbs).toMatchObject({ code: 0, stdout: 'tasks\n' });
    });

    it('the bash function, run by bash, fills COMPREPLY', async () => {
      const script = (await cli('completion', 'bash')).stdout;
      // The user's `berth`, here the built CLI against the test daemon.
      const berthFn = `berth() { '${process.execPath}' '${distCmd('berth')}' -a '${d.address}' "$@"; }`;
      const complete = async (line: string) => {
        const r = await run('bash', [
          '-c',
          [
            berthFn,
            script,
            `COMP_LINE=${shellQuote(line)}; COMP_POINT=\${#COMP_LINE}`,
            '_berth',
            `printf '%s\\n' "\${COMPREPLY[@]}"`,
          ].join('\n'),
        ]);
        expect(r.code, r.stderr).toBe(0);
        return r.stdout.split('\n').filter(Boolean);
      };
      expect(await complete(`berth -n ${NS} containers rm `)).toEqual(['a1', 'b2']);
      expect(await complete(`berth -n ${NS} tasks start a`)).toEqual(['a1']);
      expect(await complete('berth co')).toEqual(['containers', 'content', 'completion']);
      // bash splits words at ':' and '=': replies cover only what follows.
      expect(await complete(`berth -n ${NS} images rm example.com/polish/app:`)).toEqual(['1.0']);
      expect(await complete('berth containers ls --format=j')).toEqual(['json']);
    });

    it.skipIf(!haveZsh)('the zsh function, run by zsh, offers the candidates', async () => {
      const script = (await cli('completion', 'zsh')).stdout;
      // Outside a completion widget: words and CURRENT are plain parameters,
      // compadd and _files print what they were given.
      const complete = async (...words: string[]) => {
        const r = await run('zsh', [
          '-c',
          [
            `berth() { '${process.execPath}' '${distCmd('berth')}' -a '${d.address}' "$@" }`,
            'compdef() { : }',
            script,
            'compadd() { print -l -- "${@[2,-1]}" }',
            '_files() { print FILES }',
            `words=(${words.map(shellQuote).join(' ')}); CURRENT=${words.length}`,
            '_berth',
          ].join('\n'),
        ]);
        expect(r.code, r.stderr).toBe(0);
        return r.stdout.split('\n').filter(Boolean);
      };
      expect(await complete('berth', '-n', NS, 'containers', 'rm', '')).toEqual(['a1', 'b2']);
      expect(await complete('berth', 'co')).toEqual(['containers', 'content', 'completion']);
      // Nothing to offer: file names.
      expect(await complete('berth', 'images', 'import', '')).toEqual(['FILES']);
    });
  });

  describe('exit codes', () => {
    it('0 when everything was done, help and version included', async () => {
      for (const args of [
        ['containers', 'ls'],
        ['--help'],
        ['--version'],
        ['help', 'containers'],
      ]) {
        expect((await cli(...args)).code, args.join(' ')).toBe(0);
      }
    });

    it('1 when a request failed, or any of several', async () => {
      const one = await cli('containers', 'info', 'ghost');
      expect(one.code).toBe(1);
      expect(one.stderr).toMatch(/not found/);
      const some = await cli('images', 'rm', 'ghost:1', 'ghost:2');
      expect(some.code).toBe(1);
      expect(some.stderr.match(/failed to delete image ghost:\d/g)).toHaveLength(2);
      expect((await cli('namespaces', 'create', 'bad/name')).code).toBe(1);
    });

    it('2 for a command line refused before any request, with or without a daemon', async () => {
      const cases: [string[], RegExp][] = [
        [['bogus'], /unknown command 'bogus'/],
        [['containers', 'ls', '--bogus'], /unknown option '--bogus'/],
        [['containers'], /Usage: berth containers/],
        [['containers', 'info'], /missing required argument 'id'/],
        [['completion', 'fish'], /Allowed choices are bash, zsh/],
        [['leases', 'create', '-x', '5parsecs'], /invalid duration "5parsecs"/],
        [
          ['run', '--rm', '-d', '--rootfs', '/nonexistent', 'x', 'true'],
          /--rm and --detach cannot be combined/,
        ],
        [['containers', 'label', 'a1', '=v'], /invalid label "=v": empty key/],
      ];
      for (const [args, message] of cases) {
        for (const target of [d, nowhere]) {
          const r = await berth(target, args, { namespace: NS });
          expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
          expect(r.stderr).toMatch(message);
        }
      }
    });

    it('3 when berthd cannot be reached, for one request or several', async () => {
      for (const args of [['version'], ['containers', 'ls'], ['images', 'rm', 'a:1', 'b:1']]) {
        const r = await berth(nowhere, args);
        expect(r.code, args.join(' ')).toBe(3);
        expect(r.stderr).toMatch(/cannot connect to berthd at .*nothing\.sock: is it running\?/);
      }
    });
  });
});

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
