// When to collect. Like containerd's scheduler: deletions and database writes
// are counted, and a collection is scheduled once they cross their
// thresholds, no sooner than the pause threshold allows (a collection that
// took d ms is followed by at least d / pause_threshold ms without one).
// Unlike containerd it also checks every `interval` whether a lease or an
// ingest has expired, so an idle daemon collects those too.

import type { Logger } from 'pino';
import type { CollectResult } from '../../core/metadata/gc/collector.js';
import type { SchedulerSettings } from './config.js';
import { publishGcRun } from './gc-channel.js';

/** What the scheduler drives. */
export interface Collectable {
  collect(): Promise<CollectResult>;
  /** Whether a lease or ingest has expired (checked on the interval). */
  hasExpired(): Promise<boolean>;
}

export interface SchedulerStats {
  collections: number;
  deletions: number;
  mutations: number;
  /** Epoch ms of the scheduled collection, if one is scheduled. */
  scheduledAt?: number;
  lastResult?: CollectResult;
}

export class GCScheduler {
  private deletions = 0;
  private mutations = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private ticker: NodeJS.Timeout | undefined;
  private stopped = false;
  private runs = 0;
  private totalMs = 0;
  private lastEnd = 0;
  private inflight = new Set<Promise<unknown>>();
  private lastResult: CollectResult | undefined;
  /** Collections running now. */
  private active = 0;

  constructor(
    private readonly target: Collectable,
    private readonly settings: SchedulerSettings,
    private readonly log?: Pick<Logger, 'warn' | 'info'>,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Schedules the startup collection and the periodic expiry check. */
  start(): void {
    if (this.settings.startupDelayMs > 0) this.schedule(this.settings.startupDelayMs);
    if (this.settings.intervalMs > 0) {
      this.ticker = setInterval(() => this.track(this.tick()), this.settings.intervalMs);
      this.ticker.unref();
    }
  }

  /** A committed database write. */
  mutation(): void {
    if (this.stopped) return;
    this.mutations++;
    const t = this.settings.mutationThreshold;
    if (t > 0 && this.mutations >= t) this.schedule(this.triggeredDelay());
  }

  /** A deletion that may have released something. */
  deletion(): void {
    if (this.stopped) return;
    this.deletions++;
    const t = this.settings.deletionThreshold;
    if (t > 0 && this.deletions >= t) this.schedule(this.settings.scheduleDelayMs);
    else this.schedule(this.triggeredDelay());
  }

  /** Collect now (synchronous deletes, `berth gc`); waits for the result. */
  collect(): Promise<CollectResult> {
    return this.track(this.run());
  }

  stats(): SchedulerStats {
    return {
      collections: this.runs,
      deletions: this.deletions,
      mutations: this.mutations,
      scheduledAt: this.timer ? this.timerAt : undefined,
      lastResult: this.lastResult,
    };
  }

  /** Cancels timers and waits for a running collection. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.ticker);
    this.timer = undefined;
    await Promise.allSettled([...this.inflight]);
  }

  /** Delay a threshold-triggered collection waits: the pause interval, at least schedule_delay. */
  private triggeredDelay(): number {
    const { pauseThreshold, scheduleDelayMs, intervalMs } = this.settings;
    let wait = 0;
    if (this.runs > 0 && pauseThreshold > 0) {
      // Collecting for avg ms, then pausing avg/p - avg ms, spends p of the time collecting.
      const avg = this.totalMs / this.runs;
      const gap = avg / pauseThreshold - avg;
      wait = Math.max(0, this.lastEnd + gap - this.clock());
      // The periodic check would collect by then anyway.
      if (intervalMs > 0) wait = Math.min(wait, intervalMs);
    }
    return Math.max(wait, scheduleDelayMs);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    const at = this.clock() + delayMs;
    if (this.timer && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.track(this.run()).catch(() => undefined);
    }, delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.active > 0) return;
    try {
      if (this.deletions > 0 || (await this.target.hasExpired())) await this.run();
    } catch {
      // run() logs its own failures; a failed check waits for the next tick.
    }
  }

  private async run(): Promise<CollectResult> {
    this.active++;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    // Changes from here on are seen by this run or counted for the next.
    this.deletions = 0;
    this.mutations = 0;
    const t0 = this.clock();
    try {
      const result = await this.target.collect();
      this.lastResult = result;
      publishGcRun(() => ({ result }));
      return result;
    } catch (err) {
      this.log?.warn({ err }, 'garbage collection failed');
      publishGcRun(() => ({ error: err }));
      throw err;
    } finally {
      const end = this.clock();
      this.active--;
      this.runs++;
      this.totalMs += end - t0;
      this.lastEnd = end;
      // Deletions made while it ran may not have been seen.
      if (this.deletions > 0) this.schedule(this.triggeredDelay());
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.then(
      () => this.inflight.delete(p),
      () => this.inflight.delete(p),
    );
    return p;
  }
}
