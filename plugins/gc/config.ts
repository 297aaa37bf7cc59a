import { errInvalidArgument } from '../../core/errors/catalogue.js';

/**
 * `[plugins."io.berth.gc.v1.scheduler"]`: containerd's scheduler settings,
 * plus `interval` (a periodic check, so an idle daemon also drops expired
 * leases, which containerd never does) and `ingest_expiry`.
 */
export interface GCSchedulerConfig {
  /** Largest fraction of time collections may take; spaces out triggered runs. */
  pause_threshold: number;
  /** Deletions that schedule a run `schedule_delay` later; 0: deletions wait for the pause interval. */
  deletion_threshold: number;
  /** Database writes that schedule a run; 0 disables. */
  mutation_threshold: number;
  schedule_delay: string;
  /** First collection after start (cleans up what a crash left); "0": none, as in containerd. */
  startup_delay: string;
  /** Period of the expiry check; "0" disables. */
  interval: string;
  /** How long an ingest opened without a lease survives its last write. */
  ingest_expiry: string;
}

export const DEFAULT_GC_CONFIG: GCSchedulerConfig = {
  pause_threshold: 0.02,
  deletion_threshold: 0,
  mutation_threshold: 100,
  schedule_delay: '0ms',
  startup_delay: '100ms',
  interval: '60s',
  ingest_expiry: '24h',
};

/** The config with durations in milliseconds. */
export interface SchedulerSettings {
  pauseThreshold: number;
  deletionThreshold: number;
  mutationThreshold: number;
  scheduleDelayMs: number;
  startupDelayMs: number;
  intervalMs: number;
  ingestExpiryMs: number;
}

export { parseGoDuration } from '../../core/duration.js';
import { parseGoDuration } from '../../core/duration.js';

function count(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw errInvalidArgument(`${what} must be a non-negative integer`);
  return v;
}

export function parseSchedulerConfig(c: GCSchedulerConfig): SchedulerSettings {
  const known = new Set(Object.keys(DEFAULT_GC_CONFIG));
  for (const k of Object.keys(c))
    if (!known.has(k))
      throw errInvalidArgument(`gc scheduler: unknown setting ${JSON.stringify(k)}`);
  const p = c.pause_threshold;
  if (typeof p !== 'number' || !(p >= 0 && p <= 0.5))
    throw errInvalidArgument('gc scheduler: pause_threshold must be a number in [0, 0.5]');
  return {
    pauseThreshold: p,
    deletionThreshold: count(c.deletion_threshold, 'gc scheduler: deletion_threshold'),
    mutationThreshold: count(c.mutation_threshold, 'gc scheduler: mutation_threshold'),
    scheduleDelayMs: parseGoDuration(c.schedule_delay, 'gc scheduler: schedule_delay'),
    startupDelayMs: parseGoDuration(c.startup_delay, 'gc scheduler: startup_delay'),
    intervalMs: parseGoDuration(c.interval, 'gc scheduler: interval'),
    ingestExpiryMs: parseGoDuration(c.ingest_expiry, 'gc scheduler: ingest_expiry'),
  };
}
