// The task collector's view of the tasks plugins: the Tasks service for
// statuses and cgroup metrics (the same answers `ctr tasks ls` and
// `ctr tasks metrics` get), the task manager for which namespaces have tasks
// and which shims serve them.

import { isNotFound } from '../../core/errors/catalogue.js';
import type { PluginRef } from '../daemon/types.js';
import type { TaskManager } from '../tasks/manager.js';
import { TaskManagerRef, TasksServiceRef } from '../tasks/plugin.js';
import type { TasksLocal } from '../tasks/service.js';
import type { TaskSource } from './task-metrics.js';

/** The source over the initialised plugins; undefined when the tasks plugins did not load. */
export function taskSourceOf(plugins: { get<T>(ref: PluginRef<T>): T }): TaskSource | undefined {
  try {
    return tasksPluginSource(plugins.get(TaskManagerRef), plugins.get(TasksServiceRef));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export function tasksPluginSource(manager: TaskManager, tasks: TasksLocal): TaskSource {
  return {
    namespaces: () => [...new Set(manager.all().map((t) => t.namespace))],
    list: async (namespace, signal) =>
      (await tasks.list({ filter: '' }, { namespace, signal })).tasks,
    metrics: async (namespace, signal) =>
      (await tasks.metrics({ filters: [] }, { namespace, signal })).metrics,
    // Grouped tasks (a pod's containers) share their shim and so its address.
    shims: async () => {
      const addresses = await Promise.all(
        manager.all().map((t) => t.bundle.readAddress().catch(() => undefined)),
      );
      return new Set(addresses.filter((a) => a)).size;
    },
  };
}
