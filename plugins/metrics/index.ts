// berthd's Prometheus endpoint (`[metrics] address`, off when empty): the
// gRPC, GC and pull series recorded from their channels as calls and runs
// finish, task and cgroup series read at scrape time.

import type { Logger } from 'pino';
import { recordActivity } from './activity-metrics.js';
import { serveMetrics } from './endpoint.js';
import { formatFamilies } from './exposition.js';
import { recordGrpcCalls } from './grpc-metrics.js';
import { Registry } from './registry.js';
import { type TaskSource, taskCollector } from './task-metrics.js';

/** How long one namespace's task listing and metrics may take in a scrape. */
const TASK_SCRAPE_TIMEOUT_MS = 5_000;

export interface Metrics {
  /** The bound address: `host:port` or the socket path. */
  readonly address: string;
  close(): Promise<void>;
}

export async function startMetrics(
  address: string,
  opts: { tasks?: TaskSource; log: Logger },
): Promise<Metrics> {
  const { log } = opts;
  const registry = new Registry();
  const unsubscribe = [recordGrpcCalls(registry), recordActivity(registry)];
  if (opts.tasks) {
    registry.collect(
      taskCollector(opts.tasks, TASK_SCRAPE_TIMEOUT_MS, (err, namespace) =>
        log.debug({ err, namespace }, 'metrics: task metrics unavailable for this scrape'),
      ),
    );
  }
  const stop = () => unsubscribe.forEach((u) => u());
  try {
    const endpoint = await serveMetrics(
      address,
      async () =>
        formatFamilies(
          await registry.gather((err) => log.warn({ err }, 'metrics: collector failed')),
        ),
      (err) => log.warn({ err }, 'metrics endpoint'),
    );
    return {
      address: endpoint.address,
      async close() {
        stop();
        await endpoint.close();
      },
    };
  } catch (err) {
    stop();
    throw err;
  }
}
