// An in-memory shim for unit tests of the task manager and its clients.
// FakeShim holds one task's processes as state machines (created → running ⇄
// paused → stopped → deleted) with the shim's rules (no start twice, no delete
// while running, a kill of a finished process is NotFound); FakeTask is one
// connection to it, a ShimTaskClient like TtrpcTask. Nothing runs: tests make
// processes exit, shims crash, and calls fail.

import {
  errAlreadyExists,
  errCanceled,
  errFailedPrecondition,
  errNotFound,
  errUnavailable,
} from '../errors/catalogue.js';
import { nowTimestamp } from '../protobuf/timestamp.js';
import type { StateResponse } from '../../api/gen/containerd/task/v2/shim.js';
import { type ProcessInfo, Status } from '../../api/gen/containerd/types/task/task.js';
import type { Any } from '../../api/gen/google/protobuf/any.js';
import type { Timestamp } from '../../api/gen/google/protobuf/timestamp.js';
import type {
  CallOptions,
  ExitInfo,
  ExitStatus,
  KillOptions,
  Process,
  ShimCreateRequest,
  ShimTaskClient,
  Stdio,
} from './task.js';

/** The shim's side of one process. */
export class FakeProcessState {
  status: Status = Status.CREATED;
  pid = 0;
  exitStatus = 0;
  exitedAt: Timestamp | undefined;
  stdinClosed = false;
  size: { width: number; height: number } | undefined;
  private readonly waiters: (() => void)[] = [];

  constructor(
    readonly execId: string,
    readonly stdio: Stdio,
    /** The OCI process spec of an exec'd process. */
    readonly spec: Any | undefined,
  ) {}

  /** The process ends with `code` (a signal's is 128 + its number). */
  exit(code: number): void {
    if (this.status === Status.STOPPED) return;
    this.status = Status.STOPPED;
    this.exitStatus = code;
    this.exitedAt = nowTimestamp();
    for (const w of this.waiters.splice(0)) w();
  }

  whenExited(): Promise<void> {
    if (this.status === Status.STOPPED) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  get running(): boolean {
    return this.status === Status.RUNNING || this.status === Status.PAUSED;
  }
}

/** One task's shim, in memory. */
export class FakeShim {
  /** False once it crashed or shut down: no connection reaches it. */
  alive = true;
  init: FakeProcessState | undefined;
  readonly execs = new Map<string, FakeProcessState>();
  /** Every call by method name, in order. */
  readonly calls: string[] = [];
  /** Calls (by method name) that fail with the error until it is removed. */
  readonly failures = new Map<string, Error>();
  /** Signals the task's processes ignore (one that handles SIGTERM, say). */
  readonly ignoredSignals = new Set<number>();
  /** What an exec'd process does once started; by default it exits 0. */
  onExecStart: (p: FakeProcessState) => void = (p) => p.exit(0);
  /** The Create request, once the task was created. */
  created: ShimCreateRequest | undefined;
  /** The resources of the last Update, the path of the last Checkpoint. */
  updated: Any | undefined;
  checkpointed: string | undefined;
  /** What Stats returns. */
  metrics: Any | undefined;
  private nextPid = 1000;
  private readonly connections = new Set<FakeTask>();

  constructor(
    readonly namespace: string,
    readonly id: string,
  ) {}

  /** A new connection; refused (Unavailable) once the shim is gone. */
  connect(): FakeTask {
    if (!this.alive) throw errUnavailable(`ttrpc: dial the shim of ${this.id}: connection refused`);
    const t = new FakeTask(this);
    this.connections.add(t);
    return t;
  }

  /** The shim process dies: every connection ends; its processes stay until `shim delete`. */
  crash(): void {
    this.alive = false;
    for (const c of [...this.connections]) c.drop();
  }

  /** What `shim delete` does: kills what still runs and reports the init process's exit. */
  forceDelete(): ExitInfo {
    this.alive = false;
    for (const c of [...this.connections]) c.drop();
    const p = this.init;
    if (!p) return { pid: 0, exitStatus: 0, exitedAt: undefined };
    for (const e of this.execs.values()) e.exit(137);
    p.exit(137);
    this.init = undefined;
    return { pid: p.pid, exitStatus: p.exitStatus, exitedAt: p.exitedAt };
  }

  /** @internal The connection is gone (closed by its client, or by the shim). */
  forget(t: FakeTask): void {
    this.connections.delete(t);
  }

  process(execId: string): FakeProcessState {
    const p = execId ? this.execs.get(execId) : this.init;
    if (!p) throw errNotFound(execId ? `exec ${execId} of task ${this.id}` : `task ${this.id}`);
    return p;
  }

  newPid(): number {
    return this.nextPid++;
  }
}

/** One connection to a FakeShim, as TtrpcTask is one to a real shim. */
export class FakeTask implements ShimTaskClient {
  readonly execId = '';
  private open = true;
  private readonly listeners: (() => void)[] = [];
  /** Rejections of calls in flight (Wait), run when the connection ends. */
  private readonly pending = new Set<(err: Error) => void>();

  constructor(readonly shim: FakeShim) {}

  get id(): string {
    return this.shim.id;
  }

  get closed(): boolean {
    return !this.open;
  }

  onClose(listener: () => void): void {
    if (this.open) this.listeners.push(listener);
    else queueMicrotask(listener);
  }

  close(): void {
    this.drop();
  }

  /** @internal Ends the connection: calls in flight fail as a closed ttrpc connection fails them. */
  drop(): void {
    if (!this.open) return;
    this.open = false;
    this.shim.forget(this);
    for (const reject of [...this.pending]) reject(errUnavailable('ttrpc: closed'));
    for (const l of this.listeners.splice(0)) l();
  }

  /** @internal Every call: recorded, failed as configured, refused once closed. */
  async call<T>(method: string, fn: () => T | Promise<T>, o: CallOptions = {}): Promise<T> {
    this.shim.calls.push(method);
    if (!this.open) throw errUnavailable('ttrpc: closed');
    if (o.signal?.aborted) throw errCanceled('');
    const failure = this.shim.failures.get(method);
    if (failure) throw failure;
    const result = fn();
    if (!(result instanceof Promise)) return result;
    // Pending until it settles, the connection ends, or the caller gives up.
    return new Promise<T>((resolve, reject) => {
      const fail = (err: Error) => {
        this.pending.delete(fail);
        o.signal?.removeEventListener('abort', abort);
        reject(err);
      };
      const abort = () => fail(errCanceled(''));
      this.pending.add(fail);
      o.signal?.addEventListener('abort', abort, { once: true });
      result.then(
        (v) => {
          this.pending.delete(fail);
          o.signal?.removeEventListener('abort', abort);
          resolve(v);
        },
        (err: Error) => fail(err),
      );
    });
  }

  // ---------------------------------------------------------------- per process

  stateOf(execId: string, o?: CallOptions): Promise<StateResponse> {
    return this.call(
      'state',
      () => {
        const p = this.shim.process(execId);
        return {
          id: this.id,
          bundle: this.shim.created?.bundle ?? '',
          pid: p.pid,
          status: p.status,
          ...p.stdio,
          exitStatus: p.exitStatus,
          exitedAt: p.exitedAt,
          execId,
        };
      },
      o,
    );
  }

  startOf(execId: string, o?: CallOptions): Promise<number> {
    return this.call(
      'start',
      () => {
        const p = this.shim.process(execId);
        if (p.status !== Status.CREATED) {
          throw errFailedPrecondition(`process ${execId || this.id} is not in the created state`);
        }
        if (execId && this.shim.init?.status !== Status.RUNNING) {
          throw errFailedPrecondition(`task ${this.id} is not running`);
        }
        p.status = Status.RUNNING;
        if (execId) {
          p.pid = this.shim.newPid();
          this.shim.onExecStart(p);
        }
        return p.pid;
      },
      o,
    );
  }

  killOf(execId: string, signal: number, o: KillOptions = {}): Promise<void> {
    return this.call(
      'kill',
      () => {
        const p = this.shim.process(execId);
        if (p.status === Status.STOPPED) throw errNotFound(`process ${execId || this.id}`);
        if (this.shim.ignoredSignals.has(signal)) return;
        p.exit(128 + signal);
        if (o.all && !execId) for (const e of this.shim.execs.values()) e.exit(128 + signal);
      },
      o,
    );
  }

  waitOf(execId: string, o?: CallOptions): Promise<ExitStatus> {
    return this.call(
      'wait',
      async () => {
        const p = this.shim.process(execId);
        await p.whenExited();
        return { exitStatus: p.exitStatus, exitedAt: p.exitedAt };
      },
      o,
    );
  }

  deleteOf(execId: string, o?: CallOptions): Promise<ExitInfo> {
    return this.call(
      'delete',
      () => {
        const p = this.shim.process(execId);
        if (p.running) throw errFailedPrecondition(`process ${execId || this.id} is running`);
        if (execId) this.shim.execs.delete(execId);
        else this.shim.init = undefined;
        return { pid: p.pid, exitStatus: p.exitStatus, exitedAt: p.exitedAt };
      },
      o,
    );
  }

  resizeOf(execId: string, width: number, height: number, o?: CallOptions): Promise<void> {
    return this.call('resize', () => void (this.shim.process(execId).size = { width, height }), o);
  }

  closeIOOf(execId: string, o: CallOptions & { stdin?: boolean } = {}): Promise<void> {
    return this.call(
      'closeIO',
      () => {
        const p = this.shim.process(execId);
        if (o.stdin ?? true) p.stdinClosed = true;
      },
      o,
    );
  }

  // ---------------------------------------------------------------- Process (init)

  state(o?: CallOptions): Promise<StateResponse> {
    return this.stateOf('', o);
  }

  start(o?: CallOptions): Promise<number> {
    return this.startOf('', o);
  }

  kill(signal: number, o?: KillOptions): Promise<void> {
    return this.killOf('', signal, o);
  }

  wait(o?: CallOptions): Promise<ExitStatus> {
    return this.waitOf('', o);
  }

  delete(o?: CallOptions): Promise<ExitInfo> {
    return this.deleteOf('', o);
  }

  resize(width: number, height: number, o?: CallOptions): Promise<void> {
    return this.resizeOf('', width, height, o);
  }

  closeIO(o?: CallOptions & { stdin?: boolean }): Promise<void> {
    return this.closeIOOf('', o);
  }

  // ---------------------------------------------------------------- Task

  async exec(execId: string, spec: Any, stdio: Stdio, o?: CallOptions): Promise<Process> {
    await this.call(
      'exec',
      () => {
        if (this.shim.init?.status !== Status.RUNNING) {
          throw errFailedPrecondition(`task ${this.id} is not running`);
        }
        if (this.shim.execs.has(execId)) throw errAlreadyExists(`exec ${execId}`);
        this.shim.execs.set(execId, new FakeProcessState(execId, stdio, spec));
      },
      o,
    );
    return this.process(execId);
  }

  process(execId: string): Process {
    return execId ? new FakeExecProcess(this, execId) : this;
  }

  pids(o?: CallOptions): Promise<ProcessInfo[]> {
    return this.call(
      'pids',
      () =>
        [this.shim.process(''), ...this.shim.execs.values()]
          .filter((p) => p.running)
          .map((p) => ({ pid: p.pid, info: undefined })),
      o,
    );
  }

  pause(o?: CallOptions): Promise<void> {
    return this.call('pause', () => this.move(Status.RUNNING, Status.PAUSED), o);
  }

  resume(o?: CallOptions): Promise<void> {
    return this.call('resume', () => this.move(Status.PAUSED, Status.RUNNING), o);
  }

  private move(from: Status, to: Status): void {
    const p = this.shim.process('');
    if (p.status !== from) throw errFailedPrecondition(`task ${this.id} is ${Status[p.status]}`);
    p.status = to;
  }

  update(resources: Any, o?: CallOptions): Promise<void> {
    return this.call(
      'update',
      () => {
        this.shim.process('');
        this.shim.updated = resources;
      },
      o,
    );
  }

  stats(o?: CallOptions): Promise<Any | undefined> {
    return this.call('stats', () => (this.shim.process(''), this.shim.metrics), o);
  }

  checkpoint(path: string, _options: Any | undefined, o?: CallOptions): Promise<void> {
    return this.call('checkpoint', () => void (this.shim.checkpointed = path), o);
  }

  connect(o?: CallOptions): Promise<{ shimPid: number; taskPid: number; version: string }> {
    return this.call(
      'connect',
      () => ({ shimPid: 1, taskPid: this.shim.init?.pid ?? 0, version: 'fake' }),
      o,
    );
  }

  create(req: ShimCreateRequest, o?: CallOptions): Promise<number> {
    return this.call(
      'create',
      () => {
        if (this.shim.init) throw errAlreadyExists(`task ${this.id}`);
        const { stdin, stdout, stderr, terminal } = req;
        const p = new FakeProcessState('', { stdin, stdout, stderr, terminal }, undefined);
        p.pid = this.shim.newPid();
        this.shim.init = p;
        this.shim.created = req;
        return p.pid;
      },
      o,
    );
  }

  /** The shim exits when told `now`, or when its task is gone; the others' shim stays. */
  shutdown(o: CallOptions & { now?: boolean } = {}): Promise<void> {
    return this.call(
      'shutdown',
      () => {
        if (o.now || !this.shim.init) {
          this.shim.alive = false;
          queueMicrotask(() => this.shim.crash());
        }
      },
      o,
    );
  }
}

/** An exec'd process, reached through its task's connection. */
class FakeExecProcess implements Process {
  constructor(
    private readonly conn: FakeTask,
    readonly execId: string,
  ) {}

  get id(): string {
    return this.conn.id;
  }

  state(o?: CallOptions) {
    return this.conn.stateOf(this.execId, o);
  }

  start(o?: CallOptions) {
    return this.conn.startOf(this.execId, o);
  }

  kill(signal: number, o?: KillOptions) {
    return this.conn.killOf(this.execId, signal, o);
  }

  wait(o?: CallOptions) {
    return this.conn.waitOf(this.execId, o);
  }

  delete(o?: CallOptions) {
    return this.conn.deleteOf(this.execId, o);
  }

  resize(width: number, height: number, o?: CallOptions) {
    return this.conn.resizeOf(this.execId, width, height, o);
  }

  closeIO(o?: CallOptions & { stdin?: boolean }) {
    return this.conn.closeIOOf(this.execId, o);
  }
}
