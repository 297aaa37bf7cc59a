// A container's init process: `runc create` makes it (stopped on runc's exec
// fifo), `runc start` lets it run. runc daemonizes it, so as our subreaper
// orphan it is reaped by the Reaper, never by child_process.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { errFailedPrecondition } from '../../core/errors/catalogue.js';
import { ProcessIO, type StdioPaths } from '../io.js';
import type { Runc } from '../runc.js';
import { listenConsoleSocket } from './console.js';
import { Process, type ExitHandler } from './process.js';

export interface InitOptions {
  id: string;
  bundle: string;
  runc: Runc;
  stdio: StdioPaths;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  onExit: ExitHandler;
}

export class InitProcess extends Process {
  readonly bundle: string;
  readonly runc: Runc;

  constructor(private readonly opts: InitOptions) {
    super(opts.id, opts.id, opts.stdio, opts.onExit);
    this.bundle = opts.bundle;
    this.runc = opts.runc;
  }

  get isInit(): boolean {
    return true;
  }

  get pidFile(): string {
    return path.join(this.bundle, 'init.pid');
  }

  /** `runc create`: sets up stdio, creates the container, reads the init pid. */
  async create(): Promise<void> {
    const io = ProcessIO.create(this.stdio, this.bundle);
    this.io = io;
    const console = this.stdio.terminal ? listenConsoleSocket() : undefined;
    try {
      this.launchedAt = Date.now();
      const created = this.runc.create(this.id, {
        bundle: this.bundle,
        pidFile: this.pidFile,
        consoleSocket: console?.path,
        noPivot: this.opts.noPivot,
        noNewKeyring: this.opts.noNewKeyring,
        stdio: io.runcStdio,
      });
      await created;
      // The container holds its ends now; ours must go so that its exit reads as end of file.
      io.closeChildSide();
      if (console) io.attachConsole((await console.received).fd);
      this.pid = await readPid(this.pidFile);
    } catch (err) {
      console?.abort();
      io.close();
      throw err;
    }
  }

  async start(): Promise<void> {
    await this.runc.start(this.id);
  }

  async kill(signal: number, all: boolean): Promise<void> {
    await this.runc.kill(this.id, signal, all);
  }

  async pause(): Promise<void> {
    this.state.require('pause', 'running');
    this.state.transition('pausing');
    try {
      await this.runc.pause(this.id);
    } catch (err) {
      if (this.state.is('pausing')) this.state.transition('running');
      throw err;
    }
    if (this.state.is('pausing')) this.state.transition('paused');
  }

  async resume(): Promise<void> {
    this.state.require('resume', 'paused');
    await this.runc.resume(this.id);
    if (this.state.is('paused')) this.state.transition('running');
  }

  /** `runc delete` (valid once stopped, or before it ever started). */
  async delete(): Promise<void> {
    this.state.require('delete', 'created', 'stopped');
    try {
      await this.runc.delete(this.id, this.state.is('created'));
    } catch (err) {
      // Already gone from runc's state root: nothing left to delete.
      if (!(err instanceof Error && /does not exist/.test(err.message))) throw err;
    }
    this.markDeleted();
  }

  async update(resources: unknown): Promise<void> {
    if (this.state.is('stopped', 'deleted')) {
      throw errFailedPrecondition(
        `cannot update ${this.describe()} in ${this.state.current} state`,
      );
    }
    await this.runc.update(this.id, resources);
  }
}

export async function readPid(file: string): Promise<number> {
  const text = (await readFile(file, 'utf8')).trim();
  const pid = Number.parseInt(text, 10);
  if (!Number.isInteger(pid) || pid <= 0)
    throw new Error(`invalid pid ${JSON.stringify(text)} in ${file}`);
  return pid;
}
