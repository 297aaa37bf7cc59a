// TtrpcTask against an in-process containerd.task.v2.Task server: what each
// call sends (ids, namespace, deadlines) and how the shim's errors and a
// closed connection come back.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errFailedPrecondition } from '../errors/catalogue.js';
import { TtrpcClient, TtrpcServer } from '../ttrpc/index.js';
import type { CallContext } from '../ttrpc/server.js';
import { TaskDefinition } from '../../api/gen/containerd/task/v2/shim.js';
import { Status } from '../../api/gen/containerd/types/task/task.js';
import { TTRPC_NAMESPACE_KEY, TtrpcTask } from './task.js';

interface Received {
  method: string;
  req: Record<string, unknown>;
  namespace: string | undefined;
  deadline: number | undefined;
}

/** A Task service that records every request and answers with defaults, or what `override` says. */
function recordingService(received: Received[], override: Record<string, unknown> = {}) {
  const impl: Record<string, unknown> = {};
  for (const [key, def] of Object.entries(TaskDefinition.methods)) {
    impl[key] = async (req: Record<string, unknown>, ctx: CallContext) => {
      received.push({
        method: key,
        req,
        namespace: ctx.metadata.get(TTRPC_NAMESPACE_KEY)?.[0],
        deadline: ctx.deadline,
      });
      const fn = override[key] as ((req: unknown, ctx: CallContext) => unknown) | undefined;
      const empty = (def.responseType as { fromJSON(o: object): object }).fromJSON({});
      return { ...empty, ...((fn ? await fn(req, ctx) : {}) as object) };
    };
  }
  return impl as never;
}

describe('TtrpcTask', () => {
  let dir: string;
  let server: TtrpcServer;
  let received: Received[];
  let task: TtrpcTask;

  async function serve(override: Record<string, unknown> = {}) {
    server = new TtrpcServer().register(TaskDefinition, recordingService(received, override));
    const socket = path.join(dir, 'shim.sock');
    await server.listen(socket);
    task = new TtrpcTask(await TtrpcClient.connect(socket), 'k8s.io', 'c1', 3_000);
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ttrpc-task-'));
    received = [];
  });
  afterEach(async () => {
    task?.close();
    await server?.close({ timeoutMs: 1_000 });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('names the task, the process and the namespace on every call', async () => {
    await serve({ start: () => ({ pid: 42 }), state: () => ({ status: Status.RUNNING }) });
    expect(await task.start()).toBe(42);
    expect((await task.state()).status).toBe(Status.RUNNING);
    await task.kill(15);
    const spec = {
      typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Process',
      value: Buffer.from('{}'),
    };
    const exec = await task.exec('e1', spec, {
      stdin: '',
      stdout: '/fifo/out',
      stderr: '',
      terminal: true,
    });
    await exec.kill(9, { all: true });
    await exec.resize(80, 24);
    await exec.closeIO();
    await task.update(spec, { annotations: { a: 'b' } });
    await task.process('e1').delete();

    expect(received.map((r) => [r.method, r.req])).toEqual([
      ['start', { id: 'c1', execId: '' }],
      ['state', { id: 'c1', execId: '' }],
      ['kill', { id: 'c1', execId: '', signal: 15, all: false }],
      [
        'exec',
        {
          id: 'c1',
          execId: 'e1',
          terminal: true,
          stdin: '',
          stdout: '/fifo/out',
          stderr: '',
          spec: expect.objectContaining({ typeUrl: spec.typeUrl }),
        },
      ],
      ['kill', { id: 'c1', execId: 'e1', signal: 9, all: true }],
      ['resizePty', { id: 'c1', execId: 'e1', width: 80, height: 24 }],
      ['closeIO', { id: 'c1', execId: 'e1', stdin: true }],
      ['update', { id: 'c1', resources: expect.anything(), annotations: { a: 'b' } }],
      ['delete', { id: 'c1', execId: 'e1' }],
    ]);
    expect(new Set(received.map((r) => r.namespace))).toEqual(new Set(['k8s.io']));
    expect(task.process('')).toBe(task);
  });

  it('gives Shutdown a deadline of its own and the others only the caller’s', async () => {
    await serve();
    await task.shutdown();
    await task.pids();
    await task.stats({ timeoutMs: 60_000 });
    const [shutdown, pids, stats] = received;
    expect(shutdown).toMatchObject({ method: 'shutdown', req: { id: 'c1', now: false } });
    expect(shutdown!.deadline).toBeDefined();
    expect(pids!.deadline).toBeUndefined();
    expect(stats!.deadline).toBeDefined();
  });

  it("keeps the shim's error codes", async () => {
    await serve({
      start: () => {
        throw errFailedPrecondition('container c1 is not created');
      },
    });
    await expect(task.start()).rejects.toMatchObject({
      code: 'FailedPrecondition',
      message: expect.stringContaining('container c1 is not created'),
    });
  });

  it('fails a pending wait with Unavailable when the connection ends', async () => {
    await serve({ wait: () => new Promise(() => {}) });
    let closed = false;
    task.onClose(() => (closed = true));
    const waited = task.wait();
    await expect.poll(() => received.some((r) => r.method === 'wait')).toBe(true);
    task.close();
    await expect(waited).rejects.toMatchObject({ code: 'Unavailable' });
    expect(task.closed).toBe(true);
    await expect.poll(() => closed).toBe(true);
  });
});
