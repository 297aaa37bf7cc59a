// `berth stats` against a real berthd, shims and runc: a container spinning
// on a CPU next to an idle one, the table, JSON and template outputs, the
// in-place redraw on a terminal and Ctrl-C, and the pod view from the CRI.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import { busyboxAvailable, makeBusyboxRootfs } from './fixtures/busybox-rootfs.js';
import { podConfig, startCriEnv, type CriEnv } from './helpers/cri.js';
import { berth, distCmd, startDaemon, type TestDaemon } from './helpers/daemon.js';
import { killLeftoverShims, removeAllTasks } from './helpers/tasks.js';

const canRun =
  process.getuid?.() === 0 &&
  busyboxAvailable() &&
  ['/usr/sbin/runc', '/usr/bin/runc'].some((p) => fs.existsSync(p));
const haveCni = fs.existsSync('/usr/lib/cni/bridge');
const haveScript = spawnSync('script', ['--version']).status === 0;
const NS = `stats${process.pid}`;

interface Row {
  ID: string;
  Name?: string;
  Namespace?: string;
  CPUPercent: number | null;
  MemoryUsage: number | null;
  MemoryLimit: number | null;
  Pids: number | null;
  NetRx: number | null;
  NetTx: number | null;
  BlockRead: number | null;
}

describe.skipIf(!canRun)('berth stats', () => {
  let tmp: string;
  let d: TestDaemon;
  let client: Client;
  const cli = (...args: string[]) => berth(d, args, { namespace: NS });

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-stats-'));
    const rootfs = makeBusyboxRootfs(path.join(tmp, 'rootfs'));
    d = await startDaemon();
    client = new Client({ address: d.address, namespace: NS });
    for (const [id, cmd] of [
      ['busy', ['sh', '-c', 'while :; do :; done']],
      ['idle', ['sleep', '600']],
    ] as const) {
      const r = await cli('run', '-d', '--rootfs', rootfs, id, ...cmd);
      expect(r.code, r.stderr).toBe(0);
    }
    const r = await cli('containers', 'create', '--rootfs', rootfs, 'never-started', 'true');
    expect(r.code, r.stderr).toBe(0);
  });

  afterAll(async () => {
    if (client) {
      await removeAllTasks(client);
      client.close();
    }
    if (d) {
      killLeftoverShims(d.state);
      await d.dispose();
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('--no-stream --format json: the busy container uses CPU, the idle one hardly any', async () => {
    const r = await cli('stats', '--no-stream', '--format', 'json');
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as Row[];
    // Only running tasks, by default.
    expect(rows.map((x) => x.ID)).toEqual(['busy', 'idle']);
    const [busy, idle] = rows as [Row, Row];
    expect(busy.CPUPercent).toBeGreaterThan(20);
    expect(idle.CPUPercent).toBeLessThan(5);
    for (const row of rows) {
      expect(row.MemoryUsage).toBeGreaterThan(0);
      expect(row.MemoryLimit).toBeGreaterThanOrEqual(row.MemoryUsage!);
      expect(row.Pids).toBeGreaterThanOrEqual(1);
      // Each task has a network namespace of its own (only loopback, left out).
      expect(row.NetRx).toBe(0);
      expect(row.BlockRead).not.toBeNull();
    }
  });

  it('prints a table with the columns, and templates per row', async () => {
    const table = await cli('stats', '--no-stream', '--interval', '200ms', 'busy');
    expect(table.code, table.stderr).toBe(0);
    const [header, ...lines] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(
      /^CONTAINER\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/,
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^busy\s+\d+\.\d\d%\s+\S+ \S?i?B \/ \S+ \S?i?B\s+\d+\.\d\d%\s+/);

    const tpl = await cli(
      'stats',
      '--no-stream',
      '--interval',
      '200ms',
      '--format',
      '{{.ID}}:{{.Pids}}',
    );
    expect(tpl.stdout).toBe('busy:1\nidle:1\n');
  });

  it('--all lists containers without a running task, without figures', async () => {
    const r = await cli('stats', '--no-stream', '--interval', '200ms', '--all');
    expect(r.stdout).toMatch(/^never-started\s+-\s+-\s+-\s+-\s+-\s+-$/m);
    const named = await cli(
      'stats',
      '--no-stream',
      '--interval',
      '200ms',
      '--json',
      'never-started',
    );
    expect(JSON.parse(named.stdout)).toEqual([
      expect.objectContaining({ ID: 'never-started', CPUPercent: null, Pids: null }),
    ]);
  });

  it('refuses a container that does not exist and a bad interval', async () => {
    const missing = await cli('stats', '--no-stream', 'ghost');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/container "ghost" in namespace "stats\d+": not found/);
    const zero = await cli('stats', '--interval', '0');
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/--interval must be longer than 0/);
  });

  it('without --no-stream, prints a table each interval; JSON is one array per line', async () => {
    // Not a terminal: plain tables one after the other, until interrupted.
    const frames = await streamUntil(['stats', '--format', 'json', '--interval', '200ms'], 2);
    expect(frames.code).toBe(0);
    const lines = frames.out.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines)
      expect((JSON.parse(line) as Row[]).map((x) => x.ID)).toEqual(['busy', 'idle']);
  });

  it.skipIf(!haveScript)(
    'on a terminal, redraws in place and exits cleanly on Ctrl-C',
    async () => {
      // script(1) gives berth a pseudo-terminal; ^C written to it is a real Ctrl-C.
      // exec: a shell that stays as berth's parent (dash does) would take the
      // ^C itself and die of it, and script would report the shell's death.
      const line = [
        'exec',
        process.execPath,
        distCmd('berth'),
        '-a',
        d.address,
        '-n',
        NS,
        'stats',
        '--interval',
        '200ms',
      ]
        .map((a) => `'${a}'`)
        .join(' ');
      const p = spawn('script', ['-qec', line, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      const clears = () => out.split('\x1b[2J\x1b[H').length - 1;
      const exited = new Promise<number | null>((resolve) => p.once('exit', resolve));
      let interrupted = false;
      p.stdin.on('error', () => {}); // script may be gone before its stdin closes
      p.stdout.on('data', (b) => {
        out += b;
        // Once: the terminal echoes ^C, and a second one would kill berth outright.
        if (clears() >= 2 && !interrupted) {
          interrupted = true;
          p.stdin.write('\x03');
        }
      });
      expect(await exited).toBe(0);
      expect(clears()).toBeGreaterThanOrEqual(2);
      expect(out).toMatch(/\x1b\[2J\x1b\[HCONTAINER\s+CPU %/);
    },
  );

  /** Runs a streaming stats until it printed `frames` lines, then interrupts it (SIGINT, by PID). */
  function streamUntil(
    args: string[],
    frames: number,
  ): Promise<{ code: number | null; out: string }> {
    const p = spawn(process.execPath, [distCmd('berth'), '-a', d.address, '-n', NS, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (b) => {
      out += b;
      if (out.split('\n').length > frames) p.kill('SIGINT');
    });
    return new Promise((resolve) => p.once('exit', (code) => resolve({ code, out })));
  }
});

describe.skipIf(!canRun || !haveCni)('berth stats --pods', () => {
  let env: CriEnv;

  beforeAll(async () => {
    env = await startCriEnv();
  });
  afterAll(async () => {
    await env?.dispose();
  });

  it('shows each pod with its name, Kubernetes namespace, memory, processes and network', async () => {
    const config = podConfig('stats-pod', path.join(env.work, 'logs'));
    const { podSandboxId } = await env.cri.runtime.runPodSandbox({ config });
    const { containerId } = await env.cri.runtime.createContainer({
      podSandboxId,
      config: {
        metadata: { name: 'sleeper' },
        image: { image: 'busybox' },
        command: ['sleep', '600'],
        logPath: 'sleeper.log',
      },
      sandboxConfig: config,
    });
    await env.cri.runtime.startContainer({ containerId });

    const r = await berth(env.d, ['stats', '--pods', '--no-stream', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const [pod, ...others] = JSON.parse(r.stdout) as Row[];
    expect(others).toEqual([]);
    expect(pod).toMatchObject({ ID: podSandboxId, Name: 'stats-pod', Namespace: 'default' });
    expect(pod!.MemoryUsage).toBeGreaterThan(0);
    // The pause process and the sleeper.
    expect(pod!.Pids).toBeGreaterThanOrEqual(2);
    expect(pod!.CPUPercent).not.toBeNull();
    // The pod's own network namespace, with its CNI interface.
    expect(pod!.NetRx).not.toBeNull();
    expect(pod!.BlockRead).not.toBeNull();

    const table = await berth(env.d, [
      'stats',
      '--pods',
      '--no-stream',
      '--interval',
      '200ms',
      'stats-pod',
    ]);
    expect(table.stdout).toMatch(/^POD\s+NAME\s+NAMESPACE\s+CPU %\s+MEM USAGE \/ LIMIT/);
    expect(table.stdout).toContain(`${podSandboxId.slice(0, 13)}    stats-pod    default`);
    const none = await berth(env.d, [
      'stats',
      '--pods',
      '--no-stream',
      '--interval',
      '200ms',
      '--json',
      'other',
    ]);
    expect(JSON.parse(none.stdout)).toEqual([]);

    // The same containers as tasks of the CRI's namespace.
    const tasks = await berth(
      env.d,
      ['stats', '--no-stream', '--interval', '200ms', '--format', '{{.ID}}'],
      {
        namespace: 'k8s.io',
      },
    );
    expect(tasks.stdout.split('\n')).toContain(containerId);
  });
});
