// Stock crictl (Kubernetes cri-tools, built by scripts/go-tools.sh) against
// berthd: a pod and a container through their whole life with crictl's own
// gRPC and streaming clients, exec with a TTY (under util-linux `script`, which
// gives crictl a terminal) and port-forward included.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CriEnv, startCriEnv, waitFor } from './helpers/cri.js';
import { criTools } from './helpers/cri-tools.js';
import { run } from './helpers/daemon.js';

const isRoot = process.getuid?.() === 0;
const haveCni = existsSync('/usr/lib/cni/bridge');
const tools = criTools();
const missing = 'missing' in tools ? tools.missing : undefined;
const CRICTL = 'missing' in tools ? '' : tools.crictl;

/** One word for `sh -c`. */
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

interface CrictlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe.skipIf(!isRoot || !haveCni || missing !== undefined)(
  `stock crictl against berthd${missing ? ` (skipped: ${missing})` : ''}`,
  () => {
    let env: CriEnv;
    let config: string;
    let specDir: string;
    const children: ChildProcess[] = [];

    const crictlArgs = (args: string[]) => ['--config', config, ...args];
    const crictl = (...args: string[]): Promise<CrictlResult> =>
      run(CRICTL, crictlArgs(args), { timeoutMs: 120_000 });
    /** crictl that must succeed; its stdout. */
    const ok = async (...args: string[]): Promise<string> => {
      const r = await crictl(...args);
      if (r.code !== 0) throw new Error(`crictl ${args.join(' ')}: ${r.code}\n${r.stderr}`);
      return r.stdout;
    };

    beforeAll(async () => {
      env = await startCriEnv();
      const dir = path.join(env.work, 'crictl');
      await fs.mkdir(dir, { recursive: true });
      config = path.join(dir, 'crictl.yaml');
      const endpoint = `unix://${env.d.address}`;
      await fs.writeFile(
        config,
        `runtime-endpoint: ${endpoint}\nimage-endpoint: ${endpoint}\ntimeout: 60\n`,
      );
      specDir = dir;
    });

    /**
     * crictl's pod and container files. `pidNamespace` 1 (CONTAINER) is what the
     * kubelet sends for a pod without shareProcessNamespace: no pause container.
     */
    const writeSpecs = async (pod: string, pidNamespace: 0 | 1) => {
      const podJson = path.join(specDir, `${pod}.pod.json`);
      const namespaceOptions = { namespace_options: { pid: pidNamespace } };
      await fs.writeFile(
        podJson,
        JSON.stringify({
          metadata: { name: pod, namespace: 'default', uid: `${pod}-uid`, attempt: 0 },
          log_directory: path.join(specDir, 'logs', pod),
          linux: { security_context: namespaceOptions },
        }),
      );
      const containerJson = path.join(specDir, `${pod}.container.json`);
      await fs.writeFile(
        containerJson,
        JSON.stringify({
          metadata: { name: 'web' },
          image: { image: 'docker.io/library/busybox:latest' },
          command: [
            'sh',
            '-c',
            'echo hello from crictl; mkdir -p /www && echo served by berth > /www/index.html; exec httpd -f -p 8080 -h /www',
          ],
          log_path: 'web.log',
          linux: { security_context: namespaceOptions },
        }),
      );
      return { podJson, containerJson };
    };

    afterAll(async () => {
      for (const c of children) {
        if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      }
      await env?.dispose();
    });

    it.each([
      { pod: 'crictl-pause', pidNamespace: 0 as const, pause: true },
      { pod: 'crictl-lean', pidNamespace: 1 as const, pause: false },
    ])(
      'runs runp, create, start, ps, logs, exec, port-forward, stop, rm, stopp, rmp ($pod)',
      async ({ pod, pidNamespace, pause }) => {
        const { podJson, containerJson } = await writeSpecs(pod, pidNamespace);
        const podId = (await ok('runp', podJson)).trim();
        expect(podId).toMatch(/^[0-9a-f]{64}$/);
        // A pause container has a pid; a pod without one shows its pinned namespaces instead.
        const info = JSON.parse(await ok('inspectp', '-o', 'json', podId)).info;
        expect(info.pid > 0).toBe(pause);
        expect(info.pinnedNamespaces === undefined).toBe(pause);
        const ctrId = (await ok('create', podId, containerJson, podJson)).trim();
        expect(ctrId).toMatch(/^[0-9a-f]{64}$/);
        await ok('start', ctrId);

        const pods = JSON.parse(await ok('pods', '-o', 'json')).items;
        expect(pods).toEqual([expect.objectContaining({ id: podId, state: 'SANDBOX_READY' })]);
        const running = JSON.parse(await ok('ps', '-o', 'json')).containers;
        expect(running).toEqual([
          expect.objectContaining({ id: ctrId, podSandboxId: podId, state: 'CONTAINER_RUNNING' }),
        ]);

        const logs = await waitFor(
          () => crictl('logs', ctrId),
          (r) => r.stdout.includes('hello from crictl'),
          60_000,
        );
        expect(logs.stdout).toBe('hello from crictl\n');

        // ExecSync: crictl prints the stdout, then the (empty) stderr, each with a newline added.
        expect(await ok('exec', '--sync', ctrId, 'cat', '/www/index.html')).toBe(
          'served by berth\n\n\n',
        );
        // Exec over the streaming server: separate streams; crictl fails naming the exit code.
        const streamed = await crictl('exec', ctrId, 'sh', '-c', 'echo out; echo err >&2; exit 3');
        expect(streamed.stdout).toBe('out\n');
        expect(streamed.stderr).toContain('err\n');
        expect(streamed.stderr).toContain('command terminated with exit code 3');
        expect(streamed.code).toBe(1);
        // Exec with a TTY: crictl needs a terminal of its own for -t, which `script` provides.
        const cmd = [CRICTL, ...crictlArgs(['exec', '-it', ctrId, 'sh', '-c', 'tty; echo tty-ok'])];
        const tty = await run('script', ['-qec', cmd.map(quote).join(' '), '/dev/null'], {
          timeoutMs: 120_000,
        });
        expect(tty.code).toBe(0);
        expect(tty.stdout).toMatch(/^\/dev\/pts\/\d+\r\ntty-ok\r\n$/);

        // Port-forward: a local port of crictl's choosing to the pod's 8080.
        const pf = spawn(CRICTL, crictlArgs(['port-forward', podId, '0:8080']), {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        children.push(pf);
        let pfOut = '';
        pf.stdout!.on('data', (b) => (pfOut += b));
        pf.stderr!.on('data', (b) => (pfOut += b));
        const forwarded = await waitFor(
          async () => /Forwarding from 127\.0\.0\.1:(\d+) -> 8080/.exec(pfOut),
          (m) => m !== null || pf.exitCode !== null,
          60_000,
        );
        expect(forwarded, pfOut).not.toBeNull();
        const body = await fetch(`http://127.0.0.1:${forwarded![1]}/`).then((r) => r.text());
        expect(body).toBe('served by berth\n');
        const pfExited = new Promise((r) => pf.once('exit', r));
        pf.kill('SIGINT');
        await pfExited;

        await ok('stop', ctrId);
        const stopped = JSON.parse(await ok('ps', '-a', '-o', 'json')).containers;
        expect(stopped).toEqual([
          expect.objectContaining({ id: ctrId, state: 'CONTAINER_EXITED' }),
        ]);
        await ok('rm', ctrId);
        expect(JSON.parse(await ok('ps', '-a', '-o', 'json')).containers).toEqual([]);

        await ok('stopp', podId);
        expect(JSON.parse(await ok('pods', '-o', 'json')).items).toEqual([
          expect.objectContaining({ id: podId, state: 'SANDBOX_NOTREADY' }),
        ]);
        await ok('rmp', podId);
        expect(JSON.parse(await ok('pods', '-o', 'json')).items).toEqual([]);
      },
    );
  },
);
