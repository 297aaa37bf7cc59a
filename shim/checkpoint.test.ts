import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../core/errors/catalogue.js';
import { TaskCheckpointed } from '../api/gen/containerd/events/task.js';
import { CheckpointOptions } from '../api/gen/containerd/runc/v1/oci.js';
import type { Any } from '../api/gen/google/protobuf/any.js';
import { packAny } from '../core/protobuf/typeurl.js';
import { Container } from './container.js';
import { InitProcess } from './process/init.js';
import { Runc, checkpointArgs } from './runc.js';
import { CHECKPOINT_OPTIONS, TaskService } from './service.js';

describe('checkpoint', () => {
  let dir: string;
  let argsFile: string;
  let events: { topic: string; event: Any }[];
  let svc: TaskService;
  let init: InitProcess;

  /** A runc stand-in that records its arguments and fails when asked to. */
  async function fakeRunc(fail: boolean): Promise<string> {
    const bin = path.join(dir, 'runc');
    const body = fail
      ? 'echo "criu failed: type NOTIFY errno 0" >&2; exit 1'
      : `printf '%s\\n' "$@" > ${argsFile}`;
    await fs.writeFile(bin, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return bin;
  }

  async function setup(opts: { fail?: boolean; terminal?: boolean } = {}) {
    const runc = new Runc({
      binary: await fakeRunc(opts.fail ?? false),
      root: path.join(dir, 'root'),
    });
    init = new InitProcess({
      id: 'c1',
      bundle: dir,
      runc,
      stdio: { stdin: '', stdout: '', stderr: '', terminal: opts.terminal ?? false },
      onExit: () => {},
    });
    svc.containers.set('c1', new Container('c1', dir, init, false));
  }

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-shim-ckpt-'));
    argsFile = path.join(dir, 'args');
    events = [];
    svc = new TaskService({
      namespace: 'k8s.io',
      publisher: {
        publish: (topic, event) => events.push({ topic, event }),
        flush: async () => {},
        close: () => {},
      },
      reaper: { lastExit: () => undefined, forget: () => {} },
      version: 'test',
      onShutdown: () => {},
    });
  });

  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const code = (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (e) => (isBerthError(e) ? e.code : String(e)),
    );
  const runcArgs = async () => (await fs.readFile(argsFile, 'utf8')).trim().split('\n');

  it('runs runc checkpoint leaving the container running and publishes /tasks/checkpointed', async () => {
    await setup();
    init.state.transition('running');
    const images = path.join(dir, 'images');
    await svc.checkpoint({
      id: 'c1',
      path: '',
      options: packAny(CHECKPOINT_OPTIONS, CheckpointOptions, {
        ...CheckpointOptions.fromJSON({}),
        imagePath: images,
        workPath: path.join(dir, 'work'),
      }),
    });
    const args = await runcArgs();
    expect(args.slice(args.indexOf('checkpoint'))).toEqual([
      'checkpoint',
      '--image-path',
      images,
      '--work-path',
      path.join(dir, 'work'),
      '--leave-running',
      'c1',
    ]);
    expect(args.slice(0, 2)).toEqual(['--root', path.join(dir, 'root')]);
    expect(events.map((e) => e.topic)).toEqual(['/tasks/checkpointed']);
    expect(TaskCheckpointed.decode(events[0]!.event.value)).toEqual({
      containerId: 'c1',
      checkpoint: images,
    });
  });

  it('uses the request path without options, a shell job for a terminal, and stops the container on exit', async () => {
    await setup({ terminal: true });
    init.state.transition('running');
    await svc.checkpoint({ id: 'c1', path: path.join(dir, 'p'), options: undefined });
    expect(await runcArgs()).toContain('--shell-job');
    expect(await runcArgs()).toContain(path.join(dir, 'p'));
    await svc.checkpoint({
      id: 'c1',
      path: path.join(dir, 'p'),
      options: packAny(CHECKPOINT_OPTIONS, CheckpointOptions, {
        ...CheckpointOptions.fromJSON({}),
        exit: true,
      }),
    });
    expect(await runcArgs()).not.toContain('--leave-running');
  });

  it('refuses a task that is not running, a relative path, foreign options and an unknown task', async () => {
    await setup();
    const req = { id: 'c1', path: path.join(dir, 'p'), options: undefined };
    expect(await code(svc.checkpoint(req))).toBe('FailedPrecondition'); // still created
    init.state.transition('running');
    expect(await code(svc.checkpoint({ ...req, path: 'rel' }))).toBe('InvalidArgument');
    expect(
      await code(
        svc.checkpoint({ ...req, options: { typeUrl: 'other', value: new Uint8Array() } }),
      ),
    ).toBe('InvalidArgument');
    expect(await code(svc.checkpoint({ ...req, id: 'nope' }))).toBe('NotFound');
    expect(events).toEqual([]);
  });

  it("reports runc's error and publishes nothing when the dump fails", async () => {
    await setup({ fail: true });
    init.state.transition('running');
    await expect(
      svc.checkpoint({ id: 'c1', path: path.join(dir, 'p'), options: undefined }),
    ).rejects.toThrow(/runc checkpoint failed: criu failed/);
    expect(events).toEqual([]);
  });

  it('maps every CRIU option to its runc flag', () => {
    expect(
      checkpointArgs('x', {
        imagePath: '/i',
        leaveRunning: false,
        tcpEstablished: true,
        extUnixSockets: true,
        fileLocks: true,
        emptyNamespaces: ['network', 'ipc'],
        cgroupsMode: 'soft',
      }),
    ).toEqual([
      'checkpoint',
      '--image-path',
      '/i',
      '--tcp-established',
      '--ext-unix-sk',
      '--file-locks',
      '--empty-ns',
      'network',
      '--empty-ns',
      'ipc',
      '--manage-cgroups-mode',
      'soft',
      'x',
    ]);
  });
});
