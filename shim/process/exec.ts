// An additional process in a running container. Exec only records the spec;
// Start runs `runc exec --detach`, after which the process is our orphan like
// init and is reaped by the Reaper.

import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { errFailedPrecondition, errNotFound } from '../../core/errors/catalogue.js';
import { ProcessIO, type StdioPaths } from '../io.js';
import type { Runc } from '../runc.js';
import { listenConsoleSocket } from './console.js';
import { readPid } from './init.js';
import { Process, type ExitHandler } from './process.js';

export interface ExecOptions {
  execId: string;
  containerId: string;
  bundle: string;
  runc: Runc;
  stdio: StdioPaths;
  /** The OCI Process, as the client sent it. */
  spec: unknown;
  onExit: ExitHandler;
}

export class ExecProcess extends Process {
  constructor(private readonly opts: ExecOptions) {
    super(opts.execId, opts.containerId, opts.stdio, opts.onExit);
  }

  get isInit(): boolean {
    return false;
  }

  private file(suffix: string): string {
    // Exec ids are validated identifiers, so they are safe path components.
    return path.join(this.opts.bundle, `exec-${this.id}.${suffix}`);
  }

  /** `runc exec --detach`; resolves with the new pid. The caller brackets it with beginStart/endStart. */
  async start(): Promise<number> {
    const processFile = this.file('json');
    const pidFile = this.file('pid');
    await writeFile(processFile, JSON.stringify(this.opts.spec), { mode: 0o600 });
    const io = ProcessIO.create(this.stdio, this.opts.bundle);
    this.io = io;
    const console = this.stdio.terminal ? listenConsoleSocket() : undefined;
    try {
      this.launchedAt = Date.now();
      await this.opts.runc.exec(this.containerId, {
        processFile,
        pidFile,
        consoleSocket: console?.path,
        stdio: io.runcStdio,
      });
      io.closeChildSide();
      if (console) io.attachConsole((await console.received).fd);
      this.pid = await readPid(pidFile);
      return this.pid;
    } catch (err) {
      console?.abort();
      io.close();
      throw err;
    } finally {
      await rm(processFile, { force: true });
      await rm(pidFile, { force: true });
    }
  }

  kill(signal: number): void {
    if (this.pid === 0) throw errFailedPrecondition(`${this.describe()}: process not created`);
    if (this.exit) throw errNotFound(`${this.describe()}: process already finished`);
    try {
      process.kill(this.pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') {
        throw errNotFound(`${this.describe()}: process already finished`);
      }
      throw err;
    }
  }

  delete(): void {
    this.state.require('delete', 'created', 'stopped');
    this.markDeleted();
  }
}
