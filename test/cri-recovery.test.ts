// CRI state across a berthd restart: berthd is stopped (SIGTERM) or killed
// (SIGKILL) while pods run, a container exits while it is down, and a new
// berthd on the same directories must report every pod and container as it
// really is.

import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { podConfig, waitFor } from './helpers/cri.js';
import { criEnvAcrossRestarts } from './helpers/cri-env.js';
import { berth } from './helpers/daemon.js';
import { spdyExec } from './helpers/stream-client.js';

const isRoot = process.getuid?.() === 0;
const haveCni = existsSync('/usr/lib/cni/bridge');

describe.skipIf(!isRoot || !haveCni)('CRI recovery after berthd stops or is killed', () => {
  const env = criEnvAcrossRestarts();

  it('restores pods and containers with their true states, IPs, netns, exit codes and logs', async () => {
    const cri = () => env().cri.runtime;
    const logDir = path.join(env().work, 'logs', 'survivor');
    const config = podConfig('survivor', logDir);
    const { podSandboxId } = await cri().runPodSandbox({ config });
    const create = async (name: string, script: string) => {
      const { containerId } = await cri().createContainer({
        podSandboxId,
        config: {
          metadata: { name },
          image: { image: 'busybox' },
          command: ['sh', '-c', script],
          logPath: `${name}.log`,
        },
        sandboxConfig: config,
      });
      return containerId;
    };
    const ticker = await create(
      'ticker',
      'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.1; done',
    );
    await cri().startContainer({ containerId: ticker });
    // Exits on its own once berthd is gone (it waits for the marker file the test writes then).
    const shortLived = await create(
      'short',
      'while [ ! -e /tmp/go ]; do sleep 0.1; done; echo bye; exit 42',
    );
    await cri().startContainer({ containerId: shortLived });
    const neverStarted = await create('idle', 'true');
    // Reads its stdin, which only an attach after the restart writes to.
    const { containerId: reader } = await cri().createContainer({
      podSandboxId,
      config: {
        metadata: { name: 'reader' },
        image: { image: 'busybox' },
        command: ['sh', '-c', 'while read l; do echo "got:$l"; [ "$l" = quit ] && exit 3; done'],
        logPath: 'reader.log',
        stdin: true,
      },
      sandboxConfig: config,
    });
    await cri().startContainer({ containerId: reader });

    // A second pod, stopped before the crash, must come back stopped.
    const stopped = await cri().runPodSandbox({ config: podConfig('stopped', '') });
    await cri().stopPodSandbox({ podSandboxId: stopped.podSandboxId });

    const before = await cri().podSandboxStatus({ podSandboxId, verbose: true });
    const ip = before.status!.network!.ip;
    const netns = (JSON.parse(before.info.info!) as { netns: string }).netns;
    expect(ip).toMatch(/^10\./);
    const tickerLog = path.join(logDir, 'ticker.log');
    await waitFor(
      () => fs.readFile(tickerLog, 'utf8').catch(() => ''),
      (t) => t.includes('tick 2'),
    );

    const shortPid = (
      JSON.parse(
        (await cri().containerStatus({ containerId: shortLived, verbose: true })).info.info!,
      ) as { pid: number }
    ).pid;
    expect(shortPid).toBeGreaterThan(0);
    await env().d.stop('SIGKILL');
    // While berthd is down: the short-lived container is told to exit, and does, with 42.
    await fs.writeFile(`/proc/${shortPid}/root/tmp/go`, '');
    await new Promise((r) => setTimeout(r, 1500));
    await env().d.restart();

    const pods = await waitFor(
      () => cri().listPodSandbox({}),
      (r) => r.items.length === 2,
    );
    const state = Object.fromEntries(pods.items.map((p) => [p.id, p.state]));
    expect(state[podSandboxId]).toBe(0); // READY
    expect(state[stopped.podSandboxId]).toBe(1); // NOTREADY

    const after = await cri().podSandboxStatus({ podSandboxId, verbose: true });
    expect(after.status!.network!.ip).toBe(ip);
    expect((JSON.parse(after.info.info!) as { netns: string }).netns).toBe(netns);
    expect(existsSync(netns)).toBe(true);

    const status = async (containerId: string) =>
      (await cri().containerStatus({ containerId })).status!;
    expect((await status(ticker)).state).toBe(1); // RUNNING
    expect(await status(shortLived)).toMatchObject({ state: 2, exitCode: 42, reason: 'Error' });
    expect((await status(shortLived)).finishedAt).toBeGreaterThan(0n);
    expect((await status(neverStarted)).state).toBe(0); // CREATED

    // The running container's log is written again, continuing the sequence.
    const sizeAtRestart = (await fs.stat(tickerLog)).size;
    const grown = await waitFor(
      () => fs.readFile(tickerLog, 'utf8'),
      (t) => t.length > sizeAtRestart + 100,
    );
    const ticks = grown
      .trim()
      .split('\n')
      .map((l) => Number(/ stdout F tick (\d+)$/.exec(l)?.[1]));
    expect(ticks.every(Number.isInteger)).toBe(true);
    // Lines written while berthd was down waited in the pipe: nothing lost, nothing repeated.
    expect(ticks).toEqual(ticks.map((_, i) => ticks[0]! + i));

    // Attach after the restart, stdin included: the recovered FIFOs carry it.
    const { url } = await cri().attach({ containerId: reader, stdin: true, stdout: true });
    const attached = await spdyExec(url, { stdin: Buffer.from('hello\nquit\n'), stderr: false });
    expect(attached.stdout.toString()).toBe('got:hello\ngot:quit\n');
    expect(
      await waitFor(
        () => status(reader),
        (s) => s.state === 2,
      ),
    ).toMatchObject({ exitCode: 3 });
    expect(await fs.readFile(path.join(logDir, 'reader.log'), 'utf8')).toMatch(
      / stdout F got:hello\n.* stdout F got:quit\n/s,
    );

    // The recovered pod is fully usable: exec, start the created container, tear down.
    const ex = await cri().execSync({ containerId: ticker, cmd: ['hostname'], timeout: 10 });
    expect(Buffer.from(ex.stdout).toString()).toBe('survivor\n');
    await cri().startContainer({ containerId: neverStarted });
    expect(
      (
        await waitFor(
          () => status(neverStarted),
          (s) => s.state === 2,
        )
      ).exitCode,
    ).toBe(0);
    await cri().stopPodSandbox({ podSandboxId });
    expect(existsSync(netns)).toBe(false);
    await cri().removePodSandbox({ podSandboxId });
    await cri().removePodSandbox({ podSandboxId: stopped.podSandboxId });
    expect((await cri().listPodSandbox({})).items).toEqual([]);
    expect((await cri().listContainers({})).containers).toEqual([]);
  });

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`keeps a pod READY and its containers RUNNING across a ${signal} restart`, async () => {
      const cri = () => env().cri.runtime;
      const name = `steady-${signal.toLowerCase()}`;
      const config = podConfig(name, '');
      const { podSandboxId } = await cri().runPodSandbox({ config });
      const start = async (cname: string, command: string[]) => {
        const { containerId } = await cri().createContainer({
          podSandboxId,
          config: { metadata: { name: cname }, image: { image: 'busybox' }, command },
          sandboxConfig: config,
        });
        await cri().startContainer({ containerId });
        return containerId;
      };
      const pidOf = async (containerId: string) =>
        (
          JSON.parse((await cri().containerStatus({ containerId, verbose: true })).info.info!) as {
            pid: number;
          }
        ).pid;
      const sleeper = await start('sleeper', ['sleep', '3600']);
      const looper = await start('looper', ['sh', '-c', 'while true; do sleep 1; done']);
      // Exits with 7 while berthd is down, once the test writes the marker.
      const quitter = await start('quitter', [
        'sh',
        '-c',
        'while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 7',
      ]);
      const pids = {
        sleeper: await pidOf(sleeper),
        looper: await pidOf(looper),
        quitter: await pidOf(quitter),
      };

      const code = await env().d.stop(signal);
      if (signal === 'SIGTERM') expect(code).toBe(0);
      await fs.writeFile(`/proc/${pids.quitter}/root/tmp/go`, '');
      await waitFor(
        async () => existsSync(`/proc/${pids.quitter}`),
        (alive) => !alive,
      );
      await env().d.restart();

      const pods = (await cri().listPodSandbox({})).items.filter((p) => p.metadata?.name === name);
      expect(pods.map((p) => [p.id, p.state])).toEqual([[podSandboxId, 0]]); // READY
      const listed = await cri().listContainers({ filter: { podSandboxId } });
      const states = Object.fromEntries(listed.containers.map((c) => [c.id, c.state]));
      expect(states).toEqual({ [sleeper]: 1, [looper]: 1, [quitter]: 2 }); // RUNNING, RUNNING, EXITED
      for (const id of [sleeper, looper]) {
        const st = (await cri().containerStatus({ containerId: id })).status!;
        expect(st).toMatchObject({ state: 1, exitCode: 0, finishedAt: 0n, reason: '' });
      }
      // The same processes, not restarted ones.
      expect(await pidOf(sleeper)).toBe(pids.sleeper);
      expect(await pidOf(looper)).toBe(pids.looper);
      const quit = (await cri().containerStatus({ containerId: quitter })).status!;
      expect(quit).toMatchObject({ state: 2, exitCode: 7, reason: 'Error' });
      expect(quit.finishedAt).toBeGreaterThan(0n);

      // The task view agrees: the pause and both containers run, the exited one is cleaned up.
      const tasks = await berth(env().d, ['tasks', 'ls'], { namespace: 'k8s.io' });
      expect(tasks.code).toBe(0);
      for (const id of [podSandboxId, sleeper, looper]) {
        expect(tasks.stdout).toMatch(new RegExp(`^${id}\\s+\\d+\\s+RUNNING$`, 'm'));
      }
      expect(tasks.stdout).not.toContain(quitter);

      // Tear down as the kubelet does; nothing refuses.
      await cri().stopPodSandbox({ podSandboxId });
      for (const id of [sleeper, looper, quitter]) {
        expect((await cri().containerStatus({ containerId: id })).status!.state).toBe(2);
        await cri().removeContainer({ containerId: id });
      }
      await cri().removePodSandbox({ podSandboxId });
      expect((await cri().listContainers({ filter: { podSandboxId } })).containers).toEqual([]);
      const left = await berth(env().d, ['tasks', 'ls', '-q'], { namespace: 'k8s.io' });
      for (const id of [podSandboxId, sleeper, looper]) expect(left.stdout).not.toContain(id);
      expect(existsSync(`/proc/${pids.sleeper}`)).toBe(false);
    });
  }
});
