// Task, shim and per-container cgroup metrics, read when the endpoint is
// scraped: every namespace's tasks with their status (the Tasks service's
// List), the shims serving them, and each running task's Metrics.

import type { Metric } from '../../api/gen/containerd/types/metrics.js';
import { type Process, Status } from '../../api/gen/containerd/types/task/task.js';
import { cgroupFamilies } from './cgroup-metrics.js';
import { type Collector, type MetricFamily, family } from './registry.js';

/** What the collector reads; the daemon backs it with the tasks plugins. */
export interface TaskSource {
  /** Namespaces that have tasks now. */
  namespaces(): string[];
  list(namespace: string, signal: AbortSignal): Promise<Process[]>;
  metrics(namespace: string, signal: AbortSignal): Promise<Metric[]>;
  /** Shim processes serving tasks (a pod's containers share one). */
  shims(): Promise<number>;
}

export function statusName(s: Status): string {
  return (Status[s] ?? 'UNKNOWN').toLowerCase();
}

/**
 * The collector; each namespace's calls get `timeoutMs`, and a namespace that
 * fails to answer is left out of this scrape rather than failing it.
 */
export function taskCollector(
  src: TaskSource,
  timeoutMs: number,
  onError: (err: unknown, namespace: string) => void,
): Collector {
  return async (): Promise<MetricFamily[]> => {
    const tasks: [string[], number][] = [];
    const metrics: { namespace: string; metric: Metric }[] = [];
    await Promise.all(
      src.namespaces().map(async (ns) => {
        const signal = AbortSignal.timeout(timeoutMs);
        const [listed, measured] = await Promise.allSettled([
          src.list(ns, signal),
          src.metrics(ns, signal),
        ]);
        if (listed.status === 'fulfilled') {
          const byStatus = new Map<string, number>();
          for (const p of listed.value) {
            const s = statusName(p.status);
            byStatus.set(s, (byStatus.get(s) ?? 0) + 1);
          }
          for (const [s, n] of byStatus) tasks.push([[ns, s], n]);
        } else onError(listed.reason, ns);
        if (measured.status === 'fulfilled') {
          for (const metric of measured.value) metrics.push({ namespace: ns, metric });
        } else onError(measured.reason, ns);
      }),
    );
    return [
      family(
        'berth_tasks',
        'Tasks by namespace and status.',
        'gauge',
        ['namespace', 'status'],
        tasks,
      ),
      family(
        'berth_shims',
        'Shim processes serving tasks.',
        'gauge',
        [],
        [[[], await src.shims()]],
      ),
      ...cgroupFamilies(metrics),
    ];
  };
}
