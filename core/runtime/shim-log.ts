// The daemon's end of a bundle's `log` FIFO. Opened O_RDWR|O_NONBLOCK, as
// containerd does, so the shim's write-only open never blocks and a shim that
// outlives the daemon finds a reader again after a restart. Lines go to the
// daemon's log at debug level.

import fs from 'node:fs';
import net from 'node:net';
import type { Logger } from 'pino';

export interface ShimLogReader {
  close(): void;
}

export function openShimLog(fifo: string, log: Logger): ShimLogReader {
  const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  const sock = new net.Socket({ fd, readable: true, writable: false });
  let pending = '';
  sock.setEncoding('utf8');
  sock.on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trimEnd();
      pending = pending.slice(nl + 1);
      if (line) log.debug({ shimLog: line }, 'shim');
    }
    // A shim that never ends its lines must not grow this buffer without bound.
    if (pending.length > 64 * 1024) {
      log.debug({ shimLog: pending }, 'shim');
      pending = '';
    }
  });
  sock.on('error', (err) => log.debug({ err }, 'shim log read failed'));
  return {
    close() {
      if (pending.trim()) log.debug({ shimLog: pending.trim() }, 'shim');
      pending = '';
      sock.destroy();
    },
  };
}
