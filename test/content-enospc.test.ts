// A full disk under the content store: the write fails with ResourceExhausted
// and a message that names the ingest and its file (Node's own error says only
// "ENOSPC: no space left on device, write"), and the daemon goes on serving.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import type { BerthError } from '../core/errors/catalogue.js';
import { MNT, mount, umount2 } from '../native/index.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';

const isRoot = process.getuid?.() === 0;
const TMPFS_BYTES = 1 << 20;

describe.skipIf(!isRoot)('content store on a full disk', () => {
  let d: TestDaemon;
  let client: Client;
  let ingestDir: string;
  let mounted = false;

  beforeAll(async () => {
    d = await startDaemon();
    client = new Client({ address: d.address, namespace: 'enospc' });
    ingestDir = path.join(d.root, 'io.berth.content.v1.content', 'ingest');
    fs.mkdirSync(ingestDir, { recursive: true });
    mount('tmpfs', ingestDir, 'tmpfs', 0, `size=${TMPFS_BYTES}`);
    mounted = true;
  });
  afterAll(async () => {
    client?.close();
    if (mounted) umount2(ingestDir, MNT.DETACH);
    await d?.dispose();
  });

  it('fails the write with ResourceExhausted, naming the ingest and its file', async () => {
    const data = Buffer.alloc(4 * TMPFS_BYTES, 7);
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    let failure: BerthError | undefined;
    try {
      await client.content.ingest(
        'full-disk',
        (async function* () {
          for (let i = 0; i < data.length; i += 256 << 10) yield data.subarray(i, i + (256 << 10));
        })(),
        { expectedDigest: digest, expectedSize: data.length },
      );
    } catch (err) {
      failure = err as BerthError;
    }
    expect(failure?.code).toBe('ResourceExhausted');
    expect(failure?.message).toMatch(
      /write ingest (?:enospc\/)?full-disk \(.*\/ingest\/.*\/data\): ENOSPC/,
    );

    // The daemon still answers: the ingest aborts, and with the disk back
    // (the tmpfs gone) the next write commits.
    await client.content.abort('full-disk');
    expect(await client.content.statuses()).toEqual([]);
    umount2(ingestDir, MNT.DETACH);
    mounted = false;
    const small = Buffer.from('fits');
    const got = await client.content.ingest(
      'small',
      (async function* () {
        yield small;
      })(),
      { expectedSize: small.length },
    );
    expect(got).toBe(`sha256:${createHash('sha256').update(small).digest('hex')}`);
  });
});
