import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SocketPairs } from './socket-pairs.js';

describe('SocketPairs', () => {
  let dir: string;
  let pairs: SocketPairs;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-pairs-'));
    pairs = new SocketPairs(path.join(dir, 'pairs.sock'));
    await pairs.listen();
  });
  afterAll(async () => {
    pairs.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('makes connected native sockets, concurrently', async () => {
    const made = await Promise.all([pairs.pair(), pairs.pair(), pairs.pair()]);
    for (const [i, { ours, theirs }] of made.entries()) {
      expect(
        (theirs as unknown as { _handle: { isStreamBase?: boolean } })._handle.isStreamBase,
      ).toBe(true);
      const got = new Promise<string>((r) => theirs.once('data', (d) => r(String(d))));
      ours.write(`hello ${i}`);
      expect(await got).toBe(`hello ${i}`);
      ours.destroy();
      theirs.destroy();
    }
  });

  it('is private to its owner and closes a connection without a valid token', async () => {
    expect(statSync(pairs.path).mode & 0o777).toBe(0o600);
    const stranger = net.connect(pairs.path);
    stranger.on('error', () => undefined);
    stranger.write(Buffer.alloc(16, 7));
    await new Promise((r) => stranger.once('close', r));
  });
});
