// Receiving a pty master from runc's --console-socket: runc connects to a unix
// socket we listen on and sends the fd with SCM_RIGHTS (payload: its name).
// Node's net cannot read ancillary data, so net only listens and accepts (with
// pauseOnConnect, so libuv never reads and drops the message) and the addon
// receives on the accepted socket's fd from the threadpool.

import { closeSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { errInternal } from '../core/errors/catalogue.js';
import { binding } from './binding.js';

export interface ReceivedFd {
  /** The received descriptor (close-on-exec); the caller owns it. */
  fd: number;
  /** The message payload; runc sends the pty's name. */
  name: string;
}

/**
 * Receives one fd from a connected unix socket fd without blocking the event
 * loop. Rejects with code ETIMEDOUT if nothing arrives within timeoutMs, ENOMSG
 * if the peer sent data without a descriptor or hung up.
 */
export function recvFd(socketFd: number, timeoutMs = 10_000): Promise<ReceivedFd> {
  return binding().recvFd(socketFd, timeoutMs);
}

export interface ReceiveConsoleOptions {
  signal?: AbortSignal;
  /** Time allowed between accepting the connection and receiving the fd (default 10 s). */
  receiveTimeoutMs?: number;
}

function socketFd(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Listens on socketPath, accepts one connection and resolves with the fd it
 * sends. The socket is bound before this function returns (net binds unix
 * sockets synchronously outside cluster workers), so runc may be started right
 * after calling it. The socket file is removed once done or aborted. Waiting
 * for the connection is abortable at any time; an abort during the receive
 * rejects at once and the fd, if it still arrives, is closed.
 */
export function receiveConsoleFd(
  socketPath: string,
  options: ReceiveConsoleOptions = {},
): Promise<ReceivedFd> {
  const { signal, receiveTimeoutMs = 10_000 } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  binding(); // fail before binding the socket if the addon is missing
  return new Promise((resolve, reject) => {
    const server = createServer({ pauseOnConnect: true });
    let settled = false;
    const finish = (err: unknown, received?: ReceivedFd) => {
      if (settled) {
        if (received) closeSync(received.fd);
        return;
      }
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      server.close(); // also unlinks the socket path
      if (received) resolve(received);
      else reject(err);
    };
    const onAbort = () => finish(signal?.reason);

    server.on('error', (err) => finish(err));
    server.once('connection', (socket) => {
      server.close(); // one connection only
      const fd = socketFd(socket);
      if (fd === undefined) {
        socket.destroy();
        finish(errInternal('accepted console socket has no file descriptor'));
        return;
      }
      // The socket must stay open until the threadpool receive has finished with its fd.
      recvFd(fd, receiveTimeoutMs).then(
        (received) => {
          socket.destroy();
          finish(null, received);
        },
        (err: unknown) => {
          socket.destroy();
          finish(err);
        },
      );
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    server.listen(socketPath);
  });
}
