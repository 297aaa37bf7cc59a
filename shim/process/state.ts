// The process lifecycle shared by init and exec processes:
//
//   created ──start──▶ running ──pause──▶ pausing ──▶ paused ──resume──▶ running
//      │                  │                                 │
//      └──────exit────────┴─────────────exit────────────────┘──▶ stopped ──delete──▶ deleted
//      └──────────────────────────delete (never started)──────────────────────────▶ deleted
//
// Every operation names the states it is valid in; anything else is a
// FailedPrecondition, so a client that races (start twice, exec into a stopped
// task, delete a running one) gets a stable, typed error.

import { errFailedPrecondition } from '../../core/errors/catalogue.js';
import { Status } from '../../api/gen/containerd/types/task/task.js';

export type ProcessStatus = 'created' | 'running' | 'pausing' | 'paused' | 'stopped' | 'deleted';

const TRANSITIONS: Record<ProcessStatus, readonly ProcessStatus[]> = {
  created: ['running', 'stopped', 'deleted'],
  running: ['pausing', 'paused', 'stopped'],
  pausing: ['paused', 'running', 'stopped'],
  paused: ['running', 'stopped'],
  stopped: ['deleted'],
  deleted: [],
};

export function toProtoStatus(s: ProcessStatus): Status {
  switch (s) {
    case 'created':
      return Status.CREATED;
    case 'running':
      return Status.RUNNING;
    case 'pausing':
      return Status.PAUSING;
    case 'paused':
      return Status.PAUSED;
    case 'stopped':
    case 'deleted':
      return Status.STOPPED;
  }
}

export class ProcessState {
  #current: ProcessStatus = 'created';

  constructor(private readonly describe: () => string) {}

  get current(): ProcessStatus {
    return this.#current;
  }

  is(...states: ProcessStatus[]): boolean {
    return states.includes(this.#current);
  }

  /** Throws FailedPrecondition unless the process is in one of `allowed`. */
  require(action: string, ...allowed: ProcessStatus[]): void {
    if (!allowed.includes(this.#current)) {
      throw errFailedPrecondition(`cannot ${action} ${this.describe()} in ${this.#current} state`);
    }
  }

  transition(to: ProcessStatus): void {
    if (this.#current === to) return;
    if (!TRANSITIONS[this.#current].includes(to)) {
      throw errFailedPrecondition(
        `${this.describe()}: invalid transition from ${this.#current} to ${to}`,
      );
    }
    this.#current = to;
  }
}
