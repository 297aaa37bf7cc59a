// One container in this shim: its init, its execs, and where its rootfs is mounted.

import { errNotFound } from '../core/errors/catalogue.js';
import type { ExecProcess } from './process/exec.js';
import type { InitProcess } from './process/init.js';
import type { Process } from './process/process.js';

export class Container {
  readonly execs = new Map<string, ExecProcess>();

  constructor(
    readonly id: string,
    readonly bundle: string,
    readonly init: InitProcess,
    /** Set when Create mounted a rootfs list into <bundle>/rootfs (so Delete unmounts it). */
    readonly rootfsMounted: boolean,
  ) {}

  /** The init process for an empty exec id, else that exec. */
  process(execId: string): Process {
    if (!execId) return this.init;
    const p = this.execs.get(execId);
    if (!p) throw errNotFound(`process ${execId} of task ${this.id}`);
    return p;
  }

  runningExecs(): ExecProcess[] {
    return [...this.execs.values()].filter((e) => e.pid > 0 && !e.exit);
  }
}
