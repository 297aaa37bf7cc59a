import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/catalogue.js';
import { Exchange, type DropInfo, type Envelope, type EventPayload } from './exchange.js';
import type { Subscription } from './subscription.js';

const payload = (n = 0): EventPayload => ({
  typeUrl: 'containerd.events.TaskExit',
  value: Uint8Array.of(n & 0xff),
});

/** Takes exactly n envelopes from a subscription. */
async function take(sub: Subscription, n: number): Promise<Envelope[]> {
  const out: Envelope[] = [];
  while (out.length < n) {
    const r = await sub.next();
    if (r.done) throw new Error(`subscription ended after ${out.length} of ${n}`);
    out.push(r.value);
  }
  return out;
}

/** Collects everything until the subscription ends; returns the envelopes and the error, if any. */
async function drain(sub: Subscription): Promise<{ got: Envelope[]; error?: unknown }> {
  const got: Envelope[] = [];
  try {
    for await (const e of sub) got.push(e);
  } catch (error) {
    return { got, error };
  }
  return { got };
}

function expectInvalid(fn: () => unknown, message?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isBerthError(caught, 'InvalidArgument'), String(caught)).toBe(true);
  if (message) expect((caught as Error).message).toMatch(message);
}

describe('Exchange publish and subscribe', () => {
  it('delivers envelopes in publish order with namespace, topic, event and a timestamp', async () => {
    const ex = new Exchange();
    const sub = ex.subscribe();
    const before = Date.now();
    for (let i = 0; i < 50; i++) ex.publish('default', `/tasks/t${i}`, payload(i));
    const got = await take(sub, 50);
    expect(got.map((e) => e.topic)).toEqual(Array.from({ length: 50 }, (_, i) => `/tasks/t${i}`));
    expect(got[7]!.namespace).toBe('default');
    expect(got[7]!.event.typeUrl).toBe('containerd.events.TaskExit');
    expect(got[7]!.event.value).toEqual(Uint8Array.of(7));
    expect(got[0]!.timestamp.getTime()).toBeGreaterThanOrEqual(before);
    expect(got[0]!.timestamp.getTime()).toBeLessThanOrEqual(Date.now());
    expect(Object.isFrozen(got[0])).toBe(true);
    sub.close();
  });

  it('keeps order across many events while the consumer interleaves', async () => {
    const ex = new Exchange();
    const sub = ex.subscribe([], { bufferSize: 5000 });
    const seen: number[] = [];
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 700; i++) ex.publish('ns', '/seq', payload(round * 700 + i));
      for (const e of await take(sub, 350)) seen.push(e.event.value[0]!);
    }
    for (const e of await take(sub, 6 * 350)) seen.push(e.event.value[0]!);
    expect(seen).toEqual(Array.from({ length: 4200 }, (_, i) => i & 0xff));
    sub.close();
  });

  it('filters on topic and namespace, ORing multiple filter strings', async () => {
    const ex = new Exchange();
    const exits = ex.subscribe(['topic=="/tasks/exit"']);
    const nsX = ex.subscribe(['namespace==x']);
    const containers = ex.subscribe(['topic~="/containers/"']);
    const either = ex.subscribe(['topic=="/tasks/exit",namespace==x', 'topic~=/^.images/']);
    const present = ex.subscribe(['topic']);

    ex.publish('x', '/tasks/exit', payload(1));
    ex.publish('y', '/tasks/exit', payload(2));
    ex.publish('x', '/containers/create', payload(3));
    ex.publish('y', '/containers/delete', payload(4));
    ex.publish('y', '/images/update', payload(5));
    ex.publish('x', '/tasks/start', payload(6));
    ex.close();

    const ids = async (s: Subscription) => (await drain(s)).got.map((e) => e.event.value[0]);
    expect(await ids(exits)).toEqual([1, 2]);
    expect(await ids(nsX)).toEqual([1, 3, 6]);
    expect(await ids(containers)).toEqual([3, 4]);
    expect(await ids(either)).toEqual([1, 5]);
    expect(await ids(present)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('matches event fields through the optional lookup', async () => {
    const ex = new Exchange({
      eventField: (event, path) => {
        if (path.join('.') !== 'id') return { value: '', present: false };
        if (event.value[0] === 0xff) throw new Error('cannot decode');
        return { value: `c${event.value[0]}`, present: true };
      },
    });
    const sub = ex.subscribe(['event.id==c2']);
    const any = ex.subscribe(['event.id']);
    ex.publish('default', '/tasks/exit', payload(1));
    ex.publish('default', '/tasks/exit', payload(2));
    ex.publish('default', '/tasks/exit', payload(0xff));
    ex.close();
    expect((await drain(sub)).got.map((e) => e.event.value[0])).toEqual([2]);
    expect((await drain(any)).got.map((e) => e.event.value[0])).toEqual([1, 2]);
  });

  it('rejects invalid filters as InvalidArgument', () => {
    const ex = new Exchange();
    expectInvalid(
      () => ex.subscribe(['topic==']),
      /^failed parsing subscription filters: filters: parse error/,
    );
    expectInvalid(() => ex.subscribe(['topic==/tasks/exit']), /invalid quote encountered/);
    expect(ex.stats().subscribers).toBe(0);
  });

  it('rejects a bad buffer size', () => {
    const ex = new Exchange();
    expectInvalid(() => ex.subscribe([], { bufferSize: 0 }), /buffer size/);
    expectInvalid(() => ex.subscribe([], { bufferSize: 1.5 }), /buffer size/);
  });
});

describe('slow subscribers', () => {
  it('drops a subscriber that falls behind, with an error, while others keep receiving', async () => {
    const drops: DropInfo[] = [];
    const ex = new Exchange({ onDrop: (d) => drops.push(d) });
    const slow = ex.subscribe(['namespace==default'], { bufferSize: 4 });
    const fast = ex.subscribe([]);

    // Publishing is synchronous: nothing here awaits a consumer.
    for (let i = 0; i < 10; i++) {
      const r: unknown = ex.publish('default', '/tasks/exit', payload(i));
      expect(r).not.toBeInstanceOf(Promise);
    }

    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({
      subscriber: slow.id,
      filters: ['namespace==default'],
      bufferSize: 4,
      received: 4,
      topic: '/tasks/exit',
      namespace: 'default',
    });
    expect(slow.error).toBe(drops[0]!.err);
    expect(slow.active).toBe(false);
    expect(ex.stats()).toEqual({ subscribers: 1, published: 10, dropped: 1 });

    // The slow consumer gets what was queued, in order, then the error.
    const { got, error } = await drain(slow);
    expect(got.map((e) => e.event.value[0])).toEqual([0, 1, 2, 3]);
    expect(isBerthError(error, 'ResourceExhausted')).toBe(true);
    expect((error as Error).message).toBe(
      'events subscriber fell behind (4 events queued) and was dropped after 4 events: resource exhausted',
    );
    // Iteration after the error reports done.
    expect(await slow.next()).toEqual({ done: true, value: undefined });

    expect((await take(fast, 10)).map((e) => e.event.value[0])).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
    ex.publish('default', '/tasks/exit', payload(10));
    expect((await take(fast, 1))[0]!.event.value[0]).toBe(10);
    fast.close();
  });

  it('does not drop a consumer that keeps up, even with a buffer of one', async () => {
    const ex = new Exchange({ onDrop: () => expect.fail('dropped') });
    const sub = ex.subscribe([], { bufferSize: 1 });
    const consumed: number[] = [];
    const consumer = (async () => {
      for await (const e of sub) consumed.push(e.event.value[0]!);
    })();
    for (let i = 0; i < 20; i++) {
      ex.publish('default', '/tick', payload(i));
      await tick();
    }
    ex.close();
    await consumer;
    expect(consumed).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(sub.error).toBeUndefined();
  });

  it('rejects a consumer waiting on next() when it is dropped with nothing queued', async () => {
    const ex = new Exchange();
    const sub = ex.subscribe([], { bufferSize: 1 });
    const first = sub.next();
    ex.publish('default', '/a', payload(1)); // resolves the waiting next()
    ex.publish('default', '/a', payload(2)); // queued
    ex.publish('default', '/a', payload(3)); // overflows
    expect((await first).value?.event.value[0]).toBe(1);
    expect((await sub.next()).value?.event.value[0]).toBe(2);
    await expect(sub.next()).rejects.toMatchObject({ code: 'ResourceExhausted' });
  });

  it('survives an onDrop callback that throws', async () => {
    const ex = new Exchange({
      onDrop: () => {
        throw new Error('observer failed');
      },
    });
    const slow = ex.subscribe([], { bufferSize: 1 });
    const fast = ex.subscribe([]);
    expect(() => {
      for (let i = 0; i < 3; i++) ex.publish('default', '/a', payload(i));
    }).not.toThrow();
    expect(slow.error?.code).toBe('ResourceExhausted');
    expect(await take(fast, 3)).toHaveLength(3);
  });

  it('takes the default buffer size from the exchange options', () => {
    const ex = new Exchange({ bufferSize: 2 });
    expect(ex.subscribe().bufferSize).toBe(2);
    expect(ex.subscribe([], { bufferSize: 7 }).bufferSize).toBe(7);
    expect(ex.subscribe([], { bufferSize: undefined }).bufferSize).toBe(2);
    expect(new Exchange().subscribe().bufferSize).toBe(1024);
  });
});

describe('closing', () => {
  it('Subscription.close ends a pending iteration and unsubscribes', async () => {
    const ex = new Exchange();
    const sub = ex.subscribe();
    const pending = sub.next();
    sub.close();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(ex.stats().subscribers).toBe(0);
    ex.publish('default', '/a', payload());
    expect(await sub.next()).toEqual({ done: true, value: undefined });
    sub.close(); // idempotent
  });

  it('discards queued envelopes on Subscription.close', async () => {
    const ex = new Exchange();
    const sub = ex.subscribe();
    ex.publish('default', '/a', payload());
    expect(sub.pending).toBe(1);
    sub.close();
    expect(sub.pending).toBe(0);
    expect((await drain(sub)).got).toEqual([]);
  });

  it('breaking out of for-await unsubscribes', async () => {
    const ex = new Exchange();
    const sub = ex.subscribe();
    ex.publish('default', '/a', payload(1));
    ex.publish('default', '/a', payload(2));
    for await (const e of sub) {
      expect(e.event.value[0]).toBe(1);
      break;
    }
    expect(ex.stats().subscribers).toBe(0);
  });

  it('closes on an abort signal, including one already aborted', async () => {
    const ex = new Exchange();
    const ac = new AbortController();
    const sub = ex.subscribe([], { signal: ac.signal });
    const pending = sub.next();
    ac.abort();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(ex.stats().subscribers).toBe(0);

    const late = ex.subscribe([], { signal: AbortSignal.abort() });
    expect(late.active).toBe(false);
    expect(ex.stats().subscribers).toBe(0);
    expect(await late.next()).toEqual({ done: true, value: undefined });
  });

  it('Exchange.close lets subscribers drain what was queued, then ends them', async () => {
    const ex = new Exchange();
    const a = ex.subscribe();
    const b = ex.subscribe();
    const waiting = b.next();
    ex.publish('default', '/a', payload(1));
    ex.publish('default', '/a', payload(2));
    ex.close();
    expect((await drain(a)).got.map((e) => e.event.value[0])).toEqual([1, 2]);
    expect((await waiting).value?.event.value[0]).toBe(1);
    const rest = await drain(b);
    expect(rest.got.map((e) => e.event.value[0])).toEqual([2]);
    expect(rest.error).toBeUndefined();
    expect(ex.stats().subscribers).toBe(0);
  });

  it('Exchange.close ends a consumer blocked on an empty queue', async () => {
    const ex = new Exchange();
    const sub = ex.subscribe();
    const pending = sub.next();
    ex.close();
    expect(await pending).toEqual({ done: true, value: undefined });
  });

  it('refuses publish, forward and subscribe after close', () => {
    const ex = new Exchange();
    ex.close();
    ex.close(); // idempotent
    const unavailable = (fn: () => unknown) =>
      expect(fn).toThrow(/events exchange is closed: unavailable/);
    unavailable(() => ex.publish('default', '/a', payload()));
    unavailable(() =>
      ex.forward({ timestamp: new Date(), namespace: 'default', topic: '/a', event: payload() }),
    );
    unavailable(() => ex.subscribe());
  });
});

describe('validation', () => {
  it('accepts well-formed topics', () => {
    const ex = new Exchange();
    for (const topic of [
      '/tasks/exit',
      '/containers/create',
      '/a',
      '/snapshot/prepare',
      '/a-b/c_d.e/F9',
    ]) {
      expect(() => ex.publish('default', topic, payload()), topic).not.toThrow();
    }
  });

  it.each([
    ['', /envelope topic "": must not be empty: invalid argument$/],
    ['tasks/exit', /envelope topic "tasks\/exit": must start with '\/'/],
    ['/', /must have at least one component/],
    [
      '/tasks/',
      /failed validation on component "": identifier must not be empty: invalid argument$/,
    ],
    ['//exit', /failed validation on component ""/],
    ['/tasks/ex it', /failed validation on component "ex it"/],
    ['/tasks/..', /failed validation on component "\.\."/],
    ['/tasks/-exit', /failed validation on component "-exit"/],
    [`/${'a'.repeat(77)}`, /greater than maximum length/],
  ])('rejects topic %j', (topic, message) => {
    const ex = new Exchange();
    const sub = ex.subscribe();
    expectInvalid(() => ex.publish('default', topic, payload()), message);
    expect(sub.pending).toBe(0);
  });

  it('rejects invalid namespaces and payloads on publish', () => {
    const ex = new Exchange();
    expectInvalid(
      () => ex.publish('', '/a', payload()),
      /^failed publishing event: identifier must not be empty/,
    );
    expectInvalid(
      () => ex.publish('bad/ns', '/a', payload()),
      /failed publishing event: identifier "bad\/ns"/,
    );
    expectInvalid(
      () => ex.publish('default', '/a', { typeUrl: 'x' } as EventPayload),
      /event must be an Any/,
    );
    expect(ex.stats().published).toBe(0);
  });

  it('forwards envelopes with their own timestamp and namespace', async () => {
    const ex = new Exchange();
    const sub = ex.subscribe(['namespace==k8s.io']);
    const timestamp = new Date('2024-05-06T07:08:09.123Z');
    const original = { timestamp, namespace: 'k8s.io', topic: '/tasks/exit', event: payload(9) };
    ex.forward(original);
    timestamp.setTime(0); // the caller's object is not shared
    const [got] = await take(sub, 1);
    expect(got!.timestamp.toISOString()).toBe('2024-05-06T07:08:09.123Z');
    expect(got).toMatchObject({ namespace: 'k8s.io', topic: '/tasks/exit' });
    expect(got!.event.value).toEqual(Uint8Array.of(9));
    sub.close();
  });

  it('rejects forwarded envelopes that are invalid or have no timestamp', () => {
    const ex = new Exchange();
    const good = {
      timestamp: new Date(),
      namespace: 'default',
      topic: '/tasks/exit',
      event: payload(),
    };
    expectInvalid(
      () => ex.forward({ ...good, namespace: '' }),
      /^event envelope has invalid namespace/,
    );
    expectInvalid(() => ex.forward({ ...good, topic: 'exit' }), /must start with/);
    for (const timestamp of [new Date(0), new Date(-62135596800000), new Date(NaN), undefined]) {
      expectInvalid(
        () => ex.forward({ ...good, timestamp: timestamp as Date }),
        /^timestamp must be set on forwarded event/,
      );
    }
    expect(ex.stats().published).toBe(0);
  });
});
