// A TaskManager over in-memory shims (core/runtime/fake-task.ts), for unit
// tests of the manager and of its clients: real bundles under a temporary
// root, no shim or runc processes, the events it publishes kept in a list.

import path from 'node:path';
import pino from 'pino';
import type { Any } from '../../api/gen/google/protobuf/any.js';
import { FakeShimLauncher } from '../../core/runtime/fake-shim-launcher.js';
import { defaultTaskRuntimeConfig } from './config.js';
import { TaskManager } from './manager.js';

export interface PublishedEvent {
  namespace: string;
  topic: string;
  event: Any;
}

export interface ManagerOverFakes {
  manager: TaskManager;
  launcher: FakeShimLauncher;
  published: PublishedEvent[];
  /** Another manager on the same bundles and shims: berthd restarted. */
  restart(): ManagerOverFakes;
}

/** The shim command every fake task records (never run). */
export const FAKE_SHIM_PATH = '/nonexistent/containerd-shim-fake-v2';

export function taskManagerOverFakes(
  root: string,
  launcher = new FakeShimLauncher(),
): ManagerOverFakes {
  const published: PublishedEvent[] = [];
  const manager = new TaskManager({
    dirs: { state: path.join(root, 'state'), root: path.join(root, 'root') },
    config: { ...defaultTaskRuntimeConfig, shim_spares: 0 },
    address: path.join(root, 'berthd.sock'),
    ttrpcAddress: path.join(root, 'berthd.sock.ttrpc'),
    publishBinary: '/nonexistent/berthd',
    socketDir: path.join(root, 's'),
    runcRoot: path.join(root, 'runc'),
    publisher: {
      publish: (namespace, topic, event) => published.push({ namespace, topic, event }),
    },
    log: pino({ level: 'silent' }),
    resolve: () => ({ path: FAKE_SHIM_PATH, command: FAKE_SHIM_PATH, args: [] }),
    launcher,
  });
  return { manager, launcher, published, restart: () => taskManagerOverFakes(root, launcher) };
}
