// TCP connections to localhost inside pod network namespaces, for port-forward.
// The native addon creates and connects the socket inside the namespace on a
// thread made for it (no thread of berthd ever switches namespace); the
// connected fd becomes a net.Socket here, so berthd copies the data itself.

import net from 'node:net';
import { connectInNetns } from '../../native/index.js';

const CONNECT_TIMEOUT_MS = 10_000;

export class NetnsDialer {
  constructor(private readonly timeoutMs = CONNECT_TIMEOUT_MS) {}

  /**
   * Connects to localhost:port in the namespace pinned at netnsPath (the
   * daemon's own when undefined): IPv4 first, then IPv6, as the kubelet means
   * localhost. The IPv4 error is the one reported; ::1 is only a second chance.
   */
  async dial(netnsPath: string | undefined, port: number): Promise<net.Socket> {
    if (!netnsPath) return dialHere(port);
    let fd: number;
    try {
      fd = await connectInNetns(netnsPath, false, port, this.timeoutMs);
    } catch (first) {
      try {
        fd = await connectInNetns(netnsPath, true, port, this.timeoutMs);
      } catch {
        throw first;
      }
    }
    // Reading starts into the socket's buffer: nothing the server sends first is lost.
    return new net.Socket({ fd, readable: true, writable: true });
  }
}

/** Host-network pods share the daemon's namespace: connect directly. */
function dialHere(port: number): Promise<net.Socket> {
  const attempt = (host: string) =>
    new Promise<net.Socket>((resolve, reject) => {
      const sock = net.connect({ host, port });
      sock.once('connect', () => {
        sock.removeAllListeners('error');
        resolve(sock);
      });
      sock.once('error', (err) => {
        sock.destroy();
        reject(err);
      });
    });
  return attempt('127.0.0.1').catch((first: Error) =>
    attempt('::1').catch(() => Promise.reject(first)),
  );
}
