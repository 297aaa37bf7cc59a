import { describe, expect, it } from 'vitest';
import { Process, type ExitHandler, type ReapedExit } from './process.js';

class TestProcess extends Process {
  constructor(onExit: ExitHandler) {
    super('p', 'c', { stdin: '', stdout: '', stderr: '', terminal: false }, onExit);
  }
  get isInit(): boolean {
    return false;
  }
}

const exit: ReapedExit = { pid: 42, exitCode: 3, exitedAt: new Date() };

describe('Process', () => {
  it('holds an exit reaped during start until the start is reported', () => {
    const delivered: ReapedExit[] = [];
    const p = new TestProcess((_, e) => delivered.push(e));
    p.beginStart();
    p.reaped(exit);
    expect(delivered).toEqual([]);
    p.endStart();
    expect(delivered).toEqual([exit]);
    p.reaped(exit); // a duplicate is ignored
    expect(delivered).toHaveLength(1);
  });

  it('releases waiters on exit and refuses a second start', async () => {
    const p = new TestProcess((proc, e) => proc.setExited(e.exitCode, e.exitedAt));
    const waited = p.wait();
    p.beginStart();
    expect(() => p.beginStart()).toThrow(/already starting|cannot start/);
    p.state.transition('running');
    p.endStart();
    p.reaped(exit);
    expect((await waited).status).toBe(3);
    expect(() => p.beginStart()).toThrow(/cannot start/);
  });

  it('fails pending waits when deleted', async () => {
    const p = new TestProcess(() => {});
    const waited = p.wait();
    p.markDeleted();
    await expect(waited).rejects.toThrow(/not found/);
  });
});
