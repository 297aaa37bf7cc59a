import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventsDefinition } from '../api/gen/containerd/services/ttrpc/events/v1/events.js';
import { TtrpcServer } from '../core/ttrpc/server.js';
import { EventPublisher, NAMESPACE_METADATA_KEY } from './events.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempSocket(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-events-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'events.sock');
}

async function daemon(socket: string, seen: { topic: string; ns: string; md?: string }[]) {
  const server = new TtrpcServer();
  server.register(EventsDefinition, {
    forward: (req, ctx) => {
      seen.push({
        topic: req.envelope!.topic,
        ns: req.envelope!.namespace,
        md: ctx.metadata.get(NAMESPACE_METADATA_KEY)?.[0],
      });
      return {};
    },
  });
  await server.listen(socket);
  cleanups.push(() => server.close({ timeoutMs: 100 }));
  return server;
}

describe('EventPublisher', () => {
  it('forwards in order with the namespace in the envelope and the metadata', async () => {
    const socket = tempSocket();
    const seen: { topic: string; ns: string; md?: string }[] = [];
    await daemon(socket, seen);
    const p = new EventPublisher({ address: socket, namespace: 'ns1' });
    cleanups.push(() => p.close());
    for (const t of ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']) {
      p.publish(t, { typeUrl: 'containerd.events.TaskStart', value: new Uint8Array() });
    }
    await p.flush(5000);
    expect(seen.map((e) => e.topic)).toEqual([
      '/tasks/create',
      '/tasks/start',
      '/tasks/exit',
      '/tasks/delete',
    ]);
    expect(seen.every((e) => e.ns === 'ns1' && e.md === 'ns1')).toBe(true);
  });

  it('keeps events queued while the daemon is down and delivers them once it is up', async () => {
    const socket = tempSocket();
    const seen: { topic: string; ns: string; md?: string }[] = [];
    const p = new EventPublisher({ address: socket, namespace: 'ns1', retryDelayMs: 50 });
    cleanups.push(() => p.close());
    p.publish('/tasks/create', { typeUrl: 'x', value: new Uint8Array() });
    p.publish('/tasks/start', { typeUrl: 'x', value: new Uint8Array() });
    await new Promise((r) => setTimeout(r, 120));
    expect(seen).toEqual([]);
    await daemon(socket, seen);
    await p.flush(5000);
    expect(seen.map((e) => e.topic)).toEqual(['/tasks/create', '/tasks/start']);
  });
});
