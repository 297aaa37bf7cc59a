// Entry point of the child that opens TCP connections inside a pod's network
// namespace for port-forward: it joins the namespace pinned at argv[2] (its event
// loop thread, where libuv creates sockets) and, for every `{ id, port }` message
// from the daemon, connects to localhost:port and sends the connected socket back
// over the IPC channel (SCM_RIGHTS), so the daemon copies data itself. The child
// holds no data path; it exits when the daemon disconnects.

import fs from 'node:fs';
import net from 'node:net';
import { CLONE, setns } from '../../native/index.js';

export interface DialRequest {
  id: number;
  port: number;
}

/** `ready` first, once the namespace is joined; then one reply per request. */
export type DialReply = { ready: true } | { id: number; ok: true } | { id: number; error: string };

const target = process.argv[2];
if (!target || !process.send) {
  process.stderr.write('usage: netns-dial <netns file> (with an IPC channel)\n');
  process.exit(2);
}
try {
  const fd = fs.openSync(target, 'r');
  try {
    setns(fd, CLONE.NEWNET);
  } finally {
    fs.closeSync(fd);
  }
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}

function reply(msg: DialReply, socket?: net.Socket): void {
  process.send!(msg, socket, {}, () => socket?.destroy());
}

/** localhost as the kubelet means it: IPv4 first, then IPv6 where v4 refuses. */
function dial(
  port: number,
  hosts: string[],
  done: (sock: net.Socket | Error) => void,
  first?: Error,
): void {
  const sock = net.connect({ host: hosts[0]!, port });
  // Not a byte may be read here: whatever the server sends first belongs to the client.
  sock.pause();
  sock.once('connect', () => {
    sock.removeAllListeners('error');
    sock.on('error', () => {});
    done(sock);
  });
  sock.once('error', (err) => {
    sock.destroy();
    // The IPv4 error is the one worth reporting; ::1 is only a second chance.
    if (hosts.length > 1) dial(port, hosts.slice(1), done, first ?? err);
    else done(first ?? err);
  });
}

process.on('message', (m: DialRequest) => {
  dial(m.port, ['127.0.0.1', '::1'], (r) => {
    if (r instanceof Error) reply({ id: m.id, error: r.message });
    else reply({ id: m.id, ok: true }, r);
  });
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true } satisfies DialReply);
