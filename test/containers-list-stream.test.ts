// Listing containers whose records together pass the 16 MiB a single gRPC
// message may carry: the client, `berth containers ls` and containerd's ctr
// all stream one message per container (ListStream) and so see every record.

import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/index.js';
import { specAny } from '../client/container.js';
import { isBerthError } from '../core/errors/catalogue.js';
import { ContainersClient } from '../api/gen/containerd/services/containers/v1/containers.js';
import { berth, run, startDaemon, type TestDaemon } from './helpers/daemon.js';

const CTR = '/usr/bin/ctr';
const NAMESPACE = 'list-stream';
const COUNT = 40;
/** Each spec carries this much padding: 40 × 500 KiB is about 20 MiB. */
const PADDING = 500 * 1024;
const ids = Array.from({ length: COUNT }, (_, i) => `big-${String(i).padStart(2, '0')}`);

describe('container listing past the message size limit', () => {
  let d: TestDaemon;
  let client: Client;

  beforeAll(async () => {
    d = await startDaemon();
    client = new Client({ address: d.address, namespace: NAMESPACE });
    for (const id of ids) {
      await client.containers.create({
        id,
        runtime: { name: 'io.containerd.runc.v2', options: undefined },
        spec: specAny({ ociVersion: '1.0.2', annotations: { padding: 'x'.repeat(PADDING) } }),
      });
    }
  });

  afterAll(async () => {
    if (client) {
      for (const id of ids) await client.containers.delete(id).catch(() => undefined);
      client.close();
    }
    await d?.dispose();
  });

  it('is more than one unary List response may carry', async () => {
    const err = await client.call(ContainersClient, 'list', { filters: [] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isBerthError(err, 'ResourceExhausted')).toBe(true);
  });

  it('the client lists every container, and filters still apply', async () => {
    const all = await client.containers.list();
    expect(all.map((c) => c.id).sort()).toEqual(ids);
    expect(all.every((c) => (c.spec?.value.length ?? 0) > PADDING)).toBe(true);
    expect((await client.containers.list('id==big-07')).map((c) => c.id)).toEqual(['big-07']);
  });

  it('berth containers ls prints every container', async () => {
    const ls = await berth(d, ['containers', 'ls', '-q'], { namespace: NAMESPACE });
    expect(ls.stderr).toBe('');
    expect(ls.code).toBe(0);
    expect(ls.stdout.trim().split('\n')).toEqual(ids);
  });

  it.skipIf(!existsSync(CTR))('ctr containers ls prints every container', async () => {
    const ls = await run(CTR, ['-a', d.address, '-n', NAMESPACE, 'containers', 'ls', '-q'], {
      timeoutMs: 60_000,
    });
    expect(ls.stderr).toBe('');
    expect(ls.code).toBe(0);
    expect(ls.stdout.trim().split('\n').sort()).toEqual(ids);
  });
});
