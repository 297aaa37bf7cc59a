// The --console-socket runc sends a new pty master to (terminal processes).

import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { receiveConsoleFd, type ReceivedFd } from '../../native/index.js';
import { shimSocketDir } from '../../core/runtime/address.js';

export interface ConsoleSocket {
  path: string;
  /** Resolves with the pty master once runc has sent it. */
  received: Promise<ReceivedFd>;
  /** Stops waiting (runc failed); a master that still arrives is closed. */
  abort(): void;
}

export function listenConsoleSocket(dir = shimSocketDir()): ConsoleSocket {
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  const p = path.join(dir, `pty-${randomBytes(8).toString('hex')}`);
  const controller = new AbortController();
  const received = receiveConsoleFd(p, { signal: controller.signal });
  received.catch(() => {});
  return { path: p, received, abort: () => controller.abort() };
}
