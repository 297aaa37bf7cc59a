import path from 'node:path';
import { TasksService } from '../../api/gen/containerd/services/tasks/v1/tasks.js';
import type { Publisher } from '../daemon/publisher.js';
import { PluginType, type Registration } from '../daemon/types.js';
import type { MetadataDB } from '../../core/metadata/db.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import type { SnapshotService } from '../snapshots/namespaced.js';
import { getSnapshotService } from '../snapshots/plugin.js';
import {
  type TaskRuntimeConfig,
  checkTaskRuntimeConfig,
  defaultTaskRuntimeConfig,
} from './config.js';
import { TaskManager } from './manager.js';
import { daemonSocketDir } from '../../core/runtime/address.js';
import { TasksLocal } from './service.js';

/**
 * The runtime v2 task manager, `io.berth.runtime.v2.task`: bundles live in its
 * state directory, shim work directories in its root. Init reconnects to the
 * shims a previous daemon left running.
 */
export const taskRuntimePlugin: Registration<TaskRuntimeConfig, TaskManager> = {
  type: PluginType.Runtime,
  id: 'task',
  requires: [PluginType.Metadata, PluginType.Event],
  config: defaultTaskRuntimeConfig,
  async init(ctx) {
    checkTaskRuntimeConfig(ctx.config);
    const db = ctx.get<MetadataDB>(PluginType.Metadata);
    const manager = new TaskManager({
      dirs: { state: ctx.state, root: ctx.root },
      config: ctx.config,
      address: ctx.daemon.address,
      ttrpcAddress: ctx.daemon.ttrpcAddress,
      publishBinary: process.argv[1] ?? 'berthd',
      socketDir: daemonSocketDir(ctx.daemon.state),
      runcRoot: path.join(ctx.daemon.state, 'runc'),
      publisher: ctx.get<Publisher>(PluginType.Event),
      log: ctx.log,
    });
    ctx.onClose(() => manager.close());
    const started = Date.now();
    const r = await manager.recover(async (ns, id) => {
      try {
        await db.containers.get(ns, id);
        return true;
      } catch {
        return false;
      }
    });
    if (r.reconnected + r.cleaned > 0) {
      ctx.log.info({ ...r, ms: Date.now() - started }, 'tasks recovered');
    }
    ctx.meta.capabilities.push('shim-recovery');
    return manager;
  },
};

export const tasksServicePlugin: Registration = {
  type: PluginType.Service,
  id: 'tasks-service',
  requires: [PluginType.Runtime, PluginType.Metadata, PluginType.Internal],
  init(ctx) {
    let snapshots: SnapshotService | undefined;
    try {
      snapshots = getSnapshotService(ctx);
    } catch {
      ctx.log.warn('no snapshot service: tasks need explicit rootfs mounts');
    }
    return new TasksLocal(
      ctx.get<TaskManager>(PluginType.Runtime, 'task'),
      ctx.get<MetadataDB>(PluginType.Metadata).containers,
      snapshots &&
        (async (ns, name, key) =>
          (await snapshots.snapshotter(name).mounts(ns, key)).map((m) => ({ target: '', ...m }))),
    );
  },
};

export const tasksGrpcPlugin = grpcAdapterPlugin(
  'tasks',
  'containerd.services.tasks.v1.Tasks',
  TasksService,
  'tasks-service',
);
