import { describe, expect, it } from 'vitest';
import { KeyedMutex } from './keyed-mutex.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('KeyedMutex', () => {
  it('serializes holders of the same name and lets other names run', async () => {
    const m = new KeyedMutex();
    const order: string[] = [];
    const releaseA = await m.acquire(['a']);
    const waiting = m.acquire(['a']).then((release) => {
      order.push('second a');
      release();
    });
    const releaseB = await m.acquire(['b']);
    order.push('b while a held');
    releaseB();
    await tick();
    expect(order).toEqual(['b while a held']);
    releaseA();
    await waiting;
    expect(order).toEqual(['b while a held', 'second a']);
    expect(m.held).toEqual([]);
  });

  it('does not deadlock on overlapping multi-name acquisitions in opposite orders', async () => {
    const m = new KeyedMutex();
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const release = await m.acquire(i % 2 ? ['x', 'y'] : ['y', 'x']);
        inside++;
        maxInside = Math.max(maxInside, inside);
        await tick();
        inside--;
        release();
        release(); // idempotent
      }),
    );
    expect(maxInside).toBe(1);
    expect(m.held).toEqual([]);
  });
});
