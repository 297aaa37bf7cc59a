// kill -9 of berthd in the middle of a stream of creates: every acknowledged
// create survives, and nothing half-written is visible after the restart.
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import { OCI_SPEC_TYPE_URL, packJson, unpackJson } from '../core/protobuf/typeurl.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';

describe('berthd crash safety', () => {
  let d: TestDaemon | undefined;
  afterEach(async () => {
    await d?.dispose();
    d = undefined;
  });

  it('keeps every acknowledged container across kill -9', async () => {
    d = await startDaemon();
    const client = new Client({ address: d.address, namespace: 'crash' });
    const acked = new Set<string>();
    let stop = false;
    let n = 0;
    const worker = async () => {
      while (!stop) {
        const id = `c-${n++}`;
        try {
          await client.containers.create({
            id,
            labels: { seq: id },
            runtime: { name: 'io.containerd.runc.v2', options: undefined },
            spec: packJson(OCI_SPEC_TYPE_URL, { process: { args: ['echo', id] } }),
          });
          acked.add(id);
        } catch {
          return; // the daemon is gone
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    while (acked.size < 200) await new Promise((r) => setTimeout(r, 10));
    await d.stop('SIGKILL');
    stop = true;
    await Promise.all(workers);
    client.close();

    await d.restart();
    const after = new Client({ address: d.address, namespace: 'crash' });
    try {
      const list = await after.containers.list();
      const ids = new Set(list.map((c) => c.id));
      for (const id of acked) expect(ids.has(id), `acknowledged ${id} missing`).toBe(true);
      for (const c of list) {
        // Every record is whole: labels, runtime and spec all present and consistent.
        expect(c.labels.seq).toBe(c.id);
        expect(c.runtime?.name).toBe('io.containerd.runc.v2');
        expect(unpackJson<{ process: { args: string[] } }>(c.spec)?.process.args).toEqual([
          'echo',
          c.id,
        ]);
      }
      // The daemon keeps working after the crash.
      await after.containers.create({
        id: 'after-restart',
        runtime: { name: 'io.containerd.runc.v2', options: undefined },
        spec: packJson(OCI_SPEC_TYPE_URL, {}),
      });
    } finally {
      after.close();
    }
  });
});
