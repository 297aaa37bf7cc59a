import { describe, expect, it } from 'vitest';
import { countPulledBytes, observePull } from '../../core/images/pull-channel.js';
import type { CollectResult } from '../../core/metadata/gc/collector.js';
import { DEFAULT_GC_CONFIG, parseSchedulerConfig } from '../gc/config.js';
import { GCScheduler } from '../gc/scheduler.js';
import { recordActivity } from './activity-metrics.js';
import { formatFamilies } from './exposition.js';
import { Registry } from './registry.js';

function result(blobBytes: number): CollectResult {
  return {
    startedAt: new Date(),
    durationMs: 0,
    content: [],
    snapshots: [],
    leases: [],
    ingests: [],
    blobs: blobBytes ? ['sha256:x'] : [],
    blobBytes,
    backendSnapshots: [],
    errors: [],
  };
}

describe('GC and pull metrics', () => {
  it('counts what the scheduler and the pull helpers publish', async () => {
    const registry = new Registry();
    const stop = recordActivity(registry);
    try {
      const outcomes: (() => CollectResult)[] = [
        () => result(1000),
        () => result(0),
        () => {
          throw new Error('metadata unavailable');
        },
      ];
      const sched = new GCScheduler(
        { collect: async () => outcomes.shift()!(), hasExpired: async () => false },
        parseSchedulerConfig({ ...DEFAULT_GC_CONFIG }),
      );
      await sched.collect();
      await sched.collect();
      await expect(sched.collect()).rejects.toThrow(/metadata unavailable/);
      await sched.stop();

      await observePull('registry.k8s.io/pause:3.9', async () => {
        countPulledBytes(300);
        countPulledBytes(200);
      });
      await expect(
        observePull('nope', async () => {
          throw new Error('manifest unknown');
        }),
      ).rejects.toThrow(/manifest unknown/);

      const text = formatFamilies(await registry.gather());
      expect(text).toContain('berth_gc_runs_total{result="ok"} 2\n');
      expect(text).toContain('berth_gc_runs_total{result="error"} 1\n');
      expect(text).toContain('berth_gc_reclaimed_bytes_total 1000\n');
      expect(text).toContain('berth_pull_bytes_total 500\n');
      expect(text).toContain('berth_pull_seconds_count{result="ok"} 1\n');
      expect(text).toContain('berth_pull_seconds_count{result="error"} 1\n');
    } finally {
      stop();
    }
  });
});
