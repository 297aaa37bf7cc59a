import path from 'node:path';
import { TasksService } from '../../api/gen/containerd/services/tasks/v1/tasks.js';
import { definePlugin, PluginType, pluginRef } from '../daemon/types.js';
import { ExchangeRef } from '../events/plugin.js';
import { MetadataRef } from '../metadata/plugin.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import type { SnapshotService } from '../snapshots/namespaced.js';
import { SnapshotServiceRef } from '../snapshots/plugin.js';
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
export const TaskManagerRef = pluginRef<TaskManager>(PluginType.Runtime, 'task');
export const TasksServiceRef = pluginRef<TasksLocal>(PluginType.Service, 'tasks-service');

export const taskRuntimePlugin = definePlugin(TaskManagerRef, {
  requires: [PluginType.Metadata, PluginType.Event],
  config: defaultTaskRuntimeConfig as TaskRuntimeConfig,
  async init(ctx) {
    checkTaskRuntimeConfig(ctx.config);
    const db = ctx.get(MetadataRef);
    const manager = new TaskManager({
      dirs: { state: ctx.state, root: ctx.root },
      config: ctx.config,
      address: ctx.daemon.address,
      ttrpcAddress: ctx.daemon.ttrpcAddress,
      publishBinary: process.argv[1] ?? 'berthd',
      socketDir: daemonSocketDir(ctx.daemon.state),
      runcRoot: path.join(ctx.daemon.state, 'runc'),
      publisher: ctx.get(ExchangeRef),
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
});

export const tasksServicePlugin = definePlugin(TasksServiceRef, {
  requires: [PluginType.Runtime, PluginType.Metadata, PluginType.Internal],
  init(ctx) {
    let snapshots: SnapshotService | undefined;
    try {
      snapshots = ctx.get(SnapshotServiceRef);
    } catch {
      ctx.log.warn('no snapshot service: tasks need explicit rootfs mounts');
    }
    return new TasksLocal(
      ctx.get(TaskManagerRef),
      ctx.get(MetadataRef).containers,
      snapshots &&
        (async (ns, name, key) =>
          (await snapshots.snapshotter(name).mounts(ns, key)).map((m) => ({ target: '', ...m }))),
    );
  },
});

export const tasksGrpcPlugin = grpcAdapterPlugin('tasks', TasksService, TasksServiceRef);
