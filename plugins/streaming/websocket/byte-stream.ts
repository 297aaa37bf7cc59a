import { Duplex } from 'node:stream';
import type { WebSocketConnection } from './connection.js';

/** The binary messages of a WebSocket as one byte stream (SPDY tunnelled in WebSocket). */
export function webSocketByteStream(ws: WebSocketConnection): Duplex {
  const holder = {};
  const d = new Duplex({
    highWaterMark: 256 * 1024,
    read: () => ws.resume(holder),
    write: (chunk: Buffer, _enc, cb) => {
      if (ws.send(chunk, true)) cb();
      else ws.whenWritable(() => cb());
    },
    final: (cb) => {
      ws.close(1000);
      cb();
    },
    destroy: (err, cb) => {
      ws.destroy();
      cb(err);
    },
  });
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (binary && data.length > 0 && !d.push(data)) ws.pause(holder);
  });
  ws.on('close', () => {
    d.push(null);
    d.destroy();
  });
  d.on('error', () => undefined);
  return d;
}
