import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../core/errors/catalogue.js';
import { getChildSubreaper } from './syscalls.js';
import { Reaper, type ProcessExit } from './reaper.js';

const reapers: Reaper[] = [];
const stray: number[] = [];

function newReaper(): Reaper {
  const reaper = new Reaper({ sweepIntervalMs: 200 });
  reapers.push(reaper);
  return reaper;
}

afterEach(() => {
  for (const pid of stray.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const r of reapers.splice(0)) r.stop();
});

/** Resolves with a child_process exit code/signal. */
function exitOf(child: ChildProcess): Promise<[number | null, NodeJS.Signals | null]> {
  return once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
}

/**
 * Runs a shell that backgrounds a grandchild running `body`, prints its pid and
 * exits, orphaning the grandchild onto this process. The grandchild starts
 * `body` only once the shell is gone: a shell may reap a background job that
 * finished before it exited, and then no orphan would be left to test.
 */
async function orphan(body: string): Promise<number> {
  const script = `(while kill -0 $$ 2>/dev/null; do sleep 0.01; done; ${body}) >/dev/null 2>&1 & echo $!`;
  const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const [code] = await once(child, 'close'); // after stdout is drained, unlike 'exit'
  expect(code).toBe(0);
  const pid = Number.parseInt(out.trim(), 10);
  expect(pid).toBeGreaterThan(0);
  stray.push(pid);
  return pid;
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function isZombie(pid: number): boolean {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
}

describe('Reaper', () => {
  it('makes the process a subreaper and reports an orphaned grandchild exit code', async () => {
    const reaper = newReaper();
    reaper.start();
    expect(getChildSubreaper()).toBe(true);

    const events: ProcessExit[] = [];
    reaper.on('exit', (e) => events.push(e));
    const pid = await orphan('sleep 0.2; exit 7');
    expect(parentOf(pid)).toBe(process.pid);

    const exit = await reaper.waitFor(pid);
    expect(exit).toMatchObject({ pid, exitCode: 7, signal: null });
    expect(exit.status >> 8).toBe(7);
    expect(events.map((e) => e.pid)).toContain(pid);
  });

  it('keeps child_process exit codes intact while reaping orphans', async () => {
    const reaper = newReaper();
    reaper.start();
    // Orphans and direct children exiting around the same moments.
    const orphans = await Promise.all(
      Array.from({ length: 8 }, (_, i) => orphan(`sleep 0.${2 + (i % 3)}; exit ${10 + i}`)),
    );
    const children = Array.from({ length: 8 }, (_, i) =>
      spawn('sh', ['-c', `sleep 0.${2 + (i % 3)}; exit ${20 + i}`]),
    );
    const childExits = await Promise.all(children.map(exitOf));
    const orphanExits = await Promise.all(orphans.map((pid) => reaper.waitFor(pid)));

    expect(childExits).toEqual(children.map((_, i) => [20 + i, null]));
    expect(orphanExits.map((e) => e.exitCode)).toEqual(orphans.map((_, i) => 10 + i));
  });

  it('never reaps a zombie child_process still owns', async () => {
    const reaper = newReaper(); // not started: no SIGCHLD listener of ours
    const child = spawn('sh', ['-c', 'exit 4']);
    const exit = exitOf(child);
    // Block the loop until the child is a zombie, so libuv has not reaped it yet.
    const deadline = Date.now() + 5000;
    while (!isZombie(child.pid!)) {
      if (Date.now() > deadline) throw new Error('child did not exit');
    }
    expect(reaper.reap().map((e) => e.pid)).not.toContain(child.pid);
    expect(isZombie(child.pid!)).toBe(true);
    await expect(reaper.waitFor(child.pid!)).rejects.toSatisfy((e) =>
      isBerthError(e, 'InvalidArgument'),
    );
    expect(await exit).toEqual([4, null]);
  });

  it('reports signals as 128 + signal number', async () => {
    const reaper = newReaper();
    reaper.start();
    const pid = await orphan('exec sleep 30');
    const waiting = reaper.waitFor(pid);
    process.kill(pid, 'SIGTERM');
    expect(await waiting).toMatchObject({ pid, exitCode: 143, signal: 'SIGTERM' });
  });

  it('answers waitFor for an exit reaped before the call', async () => {
    const reaper = newReaper();
    reaper.start();
    const pid = await orphan('exit 3');
    const [seen] = (await new Promise<ProcessExit[]>((resolve) => {
      const check = () =>
        reaper.lastExit(pid) ? resolve([reaper.lastExit(pid)!]) : setTimeout(check, 10);
      check();
    })) as ProcessExit[];
    expect(seen.exitCode).toBe(3);
    await expect(reaper.waitFor(pid)).resolves.toBe(seen);
    reaper.forget(pid);
    expect(reaper.lastExit(pid)).toBeUndefined();
  });

  it('bounds the recent exits it remembers', async () => {
    const reaper = new Reaper({ recentExitLimit: 2, sweepIntervalMs: 100 });
    reapers.push(reaper);
    const order: number[] = [];
    reaper.on('exit', (e) => order.push(e.pid));
    reaper.start();
    const pids = [await orphan('exit 1'), await orphan('exit 2'), await orphan('exit 3')];
    while (!pids.every((pid) => order.includes(pid))) await new Promise((r) => setTimeout(r, 10));
    const ours = order.filter((pid) => pids.includes(pid));
    expect(reaper.lastExit(ours[0]!)).toBeUndefined(); // the oldest is evicted
    expect(reaper.lastExit(ours[1]!)).toBeDefined();
    expect(reaper.lastExit(ours[2]!)).toBeDefined();
  });

  it('rejects pending waiters on stop and on abort, and allows one running reaper', async () => {
    const reaper = newReaper();
    reaper.start();
    expect(() => newReaper().start()).toThrow(/already running/);
    const pid = await orphan('exec sleep 30');
    const controller = new AbortController();
    const aborted = reaper.waitFor(pid, controller.signal);
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    const pending = reaper.waitFor(pid);
    reaper.stop();
    await expect(pending).rejects.toSatisfy((e) => isBerthError(e, 'Canceled'));
  });
});
