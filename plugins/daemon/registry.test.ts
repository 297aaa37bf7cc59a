import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initPlugins, orderRegistrations } from './registry.js';
import { type Registration, SkipPluginError, pluginRef, pluginTypeRef } from './types.js';

const log = pino({ level: 'silent' });
const reg = (type: string, id: string, requires: string[] = [], init = () => ({ id })) =>
  ({ type, id, requires, init }) as Registration;

describe('orderRegistrations', () => {
  it('puts requirements first and keeps registration order otherwise', () => {
    const order = orderRegistrations([
      reg('grpc', 'a', ['meta']),
      reg('meta', 'db'),
      reg('events', 'x'),
      reg('server', 's', ['*']),
    ]).map((r) => `${r.type}.${r.id}`);
    expect(order).toEqual(['meta.db', 'grpc.a', 'events.x', 'server.s']);
  });

  it('refuses duplicates and cycles', () => {
    expect(() => orderRegistrations([reg('a', '1'), reg('a', '1')])).toThrow(/twice/);
    expect(() => orderRegistrations([reg('a', '1', ['b']), reg('b', '1', ['a'])])).toThrow(
      /cycle: a.1 -> b.1 -> a.1/,
    );
  });
});

describe('initPlugins', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-reg-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const opts = (over: Partial<Parameters<typeof initPlugins>[1]> = {}) => ({
    daemon: {
      root: path.join(dir, 'root'),
      state: path.join(dir, 'state'),
      address: '',
      ttrpcAddress: '',
      version: 't',
      revision: 't',
    },
    pluginConfig: {},
    requiredPlugins: [],
    disabledPlugins: [],
    log,
    ...over,
  });

  it('records skips and failures, propagates missing requirements, merges config', async () => {
    const seen: unknown[] = [];
    const set = await initPlugins(
      [
        reg('meta', 'db'),
        reg('snap', 'zfs', [], () => {
          throw new SkipPluginError('no zfs here');
        }),
        reg('snap', 'broken', [], () => {
          throw new Error('boom');
        }),
        { type: 'needs', id: 'zfs', requires: ['zfsonly'], init: () => 1 },
        {
          type: 'svc',
          id: 'cfg',
          requires: ['meta'],
          config: { a: 1, nested: { b: 2, c: 3 } },
          init: (ctx) => {
            seen.push(ctx.config, ctx.get(pluginRef('meta', 'db')));
            return 'svc';
          },
        },
      ],
      opts({ pluginConfig: { 'svc.cfg': { nested: { c: 9 } } } }),
    );
    const states = Object.fromEntries(set.records.map((r) => [r.uri, r.state]));
    expect(states).toEqual({
      'meta.db': 'ok',
      'snap.zfs': 'skipped',
      'snap.broken': 'error',
      'needs.zfs': 'skipped',
      'svc.cfg': 'ok',
    });
    expect(set.records.find((r) => r.uri === 'snap.broken')?.error).toBe('boom');
    expect(seen[0]).toEqual({ a: 1, nested: { b: 2, c: 9 } });
    expect(seen[1]).toEqual({ id: 'db' });
    expect(() => set.get(pluginRef('snap', 'broken'))).toThrow(
      /snap.broken \(error: boom\): not found/,
    );
  });

  it('fails startup only for required plugins', async () => {
    const regs = [
      reg('x', 'bad', [], () => {
        throw new Error('nope');
      }),
    ];
    await expect(initPlugins(regs, opts())).resolves.toBeDefined();
    await expect(initPlugins(regs, opts({ requiredPlugins: ['x.bad'] }))).rejects.toThrow(
      /required plugin x.bad is error: nope/,
    );
  });

  it('closes in reverse order', async () => {
    const closed: string[] = [];
    const mk = (id: string): Registration => ({
      type: 't',
      id,
      init: (ctx) => ctx.onClose(() => void closed.push(id)),
    });
    const set = await initPlugins([mk('a'), mk('b'), mk('c')], opts());
    await set.close();
    expect(closed).toEqual(['c', 'b', 'a']);
  });

  it('fails the init of a plugin that gets what it did not list in requires', async () => {
    const db = pluginRef<{ id: string }>('meta', 'db');
    const set = await initPlugins(
      [
        reg('meta', 'db'),
        reg('events', 'x'),
        { type: 'svc', id: 'undeclared', requires: ['events'], init: (ctx) => ctx.get(db) },
        { type: 'svc', id: 'all', requires: ['events'], init: (ctx) => ctx.getAll(db) },
        { type: 'svc', id: 'declared', requires: ['meta'], init: (ctx) => ctx.get(db).id },
        { type: 'svc', id: 'star', requires: ['*'], init: (ctx) => ctx.get(db).id },
      ],
      opts(),
    );
    const byUri = new Map(set.records.map((r) => [r.uri, r]));
    expect(byUri.get('svc.undeclared')).toMatchObject({
      state: 'error',
      error: 'plugin svc.undeclared uses meta.db but does not list meta in requires',
    });
    expect(byUri.get('svc.all')).toMatchObject({
      state: 'error',
      error: 'plugin svc.all uses meta but does not list meta in requires',
    });
    expect(byUri.get('svc.declared')).toMatchObject({ state: 'ok', instance: 'db' });
    expect(byUri.get('svc.star')).toMatchObject({ state: 'ok', instance: 'db' });
  });

  it('looks up plugins that initialise later only after init, without requiring them', async () => {
    const later = pluginTypeRef<{ id: string }>('gc');
    let lookup: (() => Map<string, { id: string }>) | undefined;
    await initPlugins(
      [
        {
          type: 'lease',
          id: 'manager',
          init: (ctx) => {
            lookup = ctx.getAllLater(later);
            expect(lookup().size).toBe(0);
          },
        },
        reg('gc', 'scheduler', ['lease']),
      ],
      opts(),
    );
    expect([...lookup!().values()]).toEqual([{ id: 'scheduler' }]);
  });
});
