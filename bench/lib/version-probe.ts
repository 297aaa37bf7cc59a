// "Is the daemon up?" asked the same way of berthd and containerd: the
// containerd.services.version.v1.Version/Version RPC through the generated
// grpc-js client, so both daemons are timed by an identical call.

import net from 'node:net';
import { Metadata, credentials } from '@grpc/grpc-js';
import {
  VersionClient,
  type VersionResponse,
} from '../../api/gen/containerd/services/version/v1/version.js';
import { sleep } from './processes.js';

const POLL_MS = 2;

function acceptsConnections(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socket);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      s.destroy();
      resolve(false);
    });
  });
}

/**
 * One Version call on a fresh channel. A fresh channel per attempt, because a
 * grpc-js channel whose first connection failed backs off for a second before
 * retrying, which would be measured as start-up time.
 */
export function versionOnce(socket: string, timeoutMs = 2000): Promise<VersionResponse> {
  const client = new VersionClient(`unix://${socket}`, credentials.createInsecure());
  return new Promise<VersionResponse>((resolve, reject) => {
    client.version(
      {},
      new Metadata(),
      { deadline: new Date(Date.now() + timeoutMs) },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  }).finally(() => client.close());
}

/**
 * Polls until a Version call on `socket` succeeds. `failed` is checked between
 * attempts so a daemon that died is reported at once instead of timing out.
 */
export async function waitForVersion(
  socket: string,
  opts: { timeoutMs: number; failed?: () => string | undefined },
): Promise<VersionResponse> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown;
  for (;;) {
    const why = opts.failed?.();
    if (why) throw new Error(why);
    if (Date.now() > deadline) {
      throw new Error(
        `no Version answer on ${socket} within ${opts.timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`,
      );
    }
    // Cheap connect probes first: a gRPC attempt per poll would cost far more than the poll.
    if (await acceptsConnections(socket)) {
      try {
        return await versionOnce(socket);
      } catch (err) {
        last = err;
      }
    }
    await sleep(POLL_MS);
  }
}
