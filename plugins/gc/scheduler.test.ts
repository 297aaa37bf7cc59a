import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CollectResult } from '../../core/metadata/gc/collector.js';
import { DEFAULT_GC_CONFIG, parseGoDuration, parseSchedulerConfig } from './config.js';
import { type Collectable, GCScheduler } from './scheduler.js';

function fakeTarget(runMs = 0) {
  const t = {
    runs: 0,
    expired: false,
    async collect(): Promise<CollectResult> {
      t.runs++;
      if (runMs) await new Promise((r) => setTimeout(r, runMs));
      return {
        startedAt: new Date(),
        durationMs: runMs,
        content: [],
        snapshots: [],
        leases: [],
        ingests: [],
        blobs: [],
        blobBytes: 0,
        backendSnapshots: [],
        errors: [],
      };
    },
    async hasExpired() {
      return t.expired;
    },
  };
  return t satisfies Collectable;
}

const settings = (over: Partial<typeof DEFAULT_GC_CONFIG> = {}) =>
  parseSchedulerConfig({ ...DEFAULT_GC_CONFIG, ...over });

let sched: GCScheduler | undefined;
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(async () => {
  if (sched) {
    // Let a collection still running on fake timers finish.
    const stopped = sched.stop();
    await vi.advanceTimersByTimeAsync(1000);
    await stopped;
  }
  vi.useRealTimers();
  sched = undefined;
});

describe('gc config', () => {
  it('parses Go durations and validates settings', () => {
    expect(parseGoDuration('100ms', 'x')).toBe(100);
    expect(parseGoDuration('1h30m', 'x')).toBe(5_400_000);
    expect(parseGoDuration('0', 'x')).toBe(0);
    expect(parseGoDuration('1.5s', 'x')).toBe(1500);
    for (const bad of ['', '-1s', '10', '1d', 's'])
      expect(() => parseGoDuration(bad, 'x'), bad).toThrow(/invalid duration/);
    expect(settings()).toEqual({
      pauseThreshold: 0.02,
      deletionThreshold: 0,
      mutationThreshold: 100,
      scheduleDelayMs: 0,
      startupDelayMs: 100,
      intervalMs: 60_000,
      ingestExpiryMs: 86_400_000,
    });
    expect(() => settings({ pause_threshold: 0.6 })).toThrow(/pause_threshold/);
    expect(() => settings({ mutation_threshold: -1 })).toThrow(/mutation_threshold/);
    expect(() => settings({ deletion_threshold: 1.5 })).toThrow(/deletion_threshold/);
    expect(() => parseSchedulerConfig({ ...DEFAULT_GC_CONFIG, bogus: 1 } as never)).toThrow(
      /unknown setting "bogus"/,
    );
  });
});

describe('gc scheduler', () => {
  it('collects once after the startup delay, then only when something happens', async () => {
    const t = fakeTarget();
    sched = new GCScheduler(t, settings());
    sched.start();
    await vi.advanceTimersByTimeAsync(99);
    expect(t.runs).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.runs).toBe(1);
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(t.runs).toBe(1);
  });

  it('a deletion schedules a collection; a burst of them is one collection', async () => {
    const t = fakeTarget();
    sched = new GCScheduler(t, settings({ startup_delay: '1h', interval: '0' }));
    sched.start();
    for (let i = 0; i < 50; i++) sched.deletion();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.runs).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.runs).toBe(1);
  });

  it('spaces triggered collections by the pause threshold', async () => {
    const t = fakeTarget(100); // each collection takes 100 ms
    sched = new GCScheduler(t, settings({ startup_delay: '1h', interval: '0' }));
    sched.start();
    sched.deletion();
    await vi.advanceTimersByTimeAsync(100);
    expect(t.runs).toBe(1);
    // 100 ms / 0.02 - 100 ms = 4.9 s between triggered collections.
    sched.deletion();
    await vi.advanceTimersByTimeAsync(4_700);
    expect(t.runs).toBe(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(t.runs).toBe(2);
  });

  it('deletion_threshold collects after schedule_delay, ignoring the pause interval', async () => {
    const t = fakeTarget(100);
    sched = new GCScheduler(
      t,
      settings({
        startup_delay: '1ms',
        interval: '0',
        deletion_threshold: 3,
        schedule_delay: '10ms',
      }),
    );
    sched.start();
    await vi.advanceTimersByTimeAsync(101);
    expect(t.runs).toBe(1);
    sched.deletion();
    sched.deletion();
    await vi.advanceTimersByTimeAsync(20);
    expect(t.runs).toBe(1); // below the threshold: waits for the pause interval
    sched.deletion();
    await vi.advanceTimersByTimeAsync(10);
    expect(t.runs).toBe(2);
  });

  it('mutations collect once they reach mutation_threshold', async () => {
    const t = fakeTarget();
    sched = new GCScheduler(
      t,
      settings({ startup_delay: '1h', interval: '0', mutation_threshold: 5 }),
    );
    sched.start();
    for (let i = 0; i < 4; i++) sched.mutation();
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.runs).toBe(0);
    sched.mutation();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.runs).toBe(1);
    expect(sched.stats().mutations).toBe(0);
  });

  it('the interval check collects expired leases on an idle daemon', async () => {
    const t = fakeTarget();
    sched = new GCScheduler(t, settings({ startup_delay: '1h', interval: '10s' }));
    sched.start();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(t.runs).toBe(0);
    t.expired = true;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(t.runs).toBe(1);
  });

  it('startup_delay "0" means no startup collection, as in containerd', async () => {
    const t = fakeTarget();
    sched = new GCScheduler(t, settings({ startup_delay: '0', interval: '0' }));
    sched.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(t.runs).toBe(0);
  });

  it('collect() runs now and reports; stop() cancels what is scheduled', async () => {
    const t = fakeTarget();
    sched = new GCScheduler(t, settings({ startup_delay: '1s' }));
    sched.start();
    const r = await sched.collect();
    expect(r.errors).toEqual([]);
    expect(t.runs).toBe(1);
    await sched.stop();
    sched.deletion();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(t.runs).toBe(1);
  });
});
