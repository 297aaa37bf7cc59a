import type { IncomingMessage } from 'node:http';
import type { Writable } from 'node:stream';
import { endAndFlush } from './flush.js';
import { isBase64Channel } from './protocols.js';
import { parsePort } from './spdy-port-forward.js';
import type { PortForwardRequest, StreamingRuntime } from './types.js';
import { ChannelMux, channelDuplex } from './websocket/channels.js';
import type { WebSocketConnection } from './websocket/connection.js';

// Port-forward over WebSocket channels: the i-th requested port (`?port=` query
// values, else the request's ports) gets data channel 2i and error channel 2i+1,
// one connection each. With v4 the first message on every channel is the port
// number as a little-endian uint16.

export function webSocketPorts(req: IncomingMessage, pf: PortForwardRequest): number[] | string {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const raw = url.searchParams.getAll('port');
  if (raw.length === 0) {
    return pf.ports.length > 0 ? pf.ports : 'query parameter "port" is required';
  }
  const ports: number[] = [];
  for (const v of raw) {
    const p = parsePort(v);
    if (p === undefined) return `invalid port ${JSON.stringify(v)}`;
    if (pf.ports.length > 0 && !pf.ports.includes(p)) {
      return `port ${p} was not requested for pod ${pf.podSandboxId}`;
    }
    ports.push(p);
  }
  return ports;
}

export function serveWebSocketPortForward(
  ws: WebSocketConnection,
  protocol: string,
  ports: number[],
  pf: PortForwardRequest,
  runtime: StreamingRuntime,
): void {
  const mux = new ChannelMux(ws, isBase64Channel(protocol), false);
  const v4 = protocol.startsWith('v4.');
  const outputs: Writable[] = [];
  const runs = ports.map(async (port, i) => {
    const data = channelDuplex(mux, 2 * i);
    const error = mux.writer(2 * i + 1);
    outputs.push(data, error);
    if (v4) {
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16LE(port);
      mux.send(2 * i, prefix);
      mux.send(2 * i + 1, prefix);
    }
    try {
      await runtime.portForward(pf.podSandboxId, port, data);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      error.write(`error forwarding port ${port} to pod ${pf.podSandboxId}, uid : ${msg}`);
    }
  });
  void Promise.all(runs).then(async () => {
    // No half-close exists on these channels: the connection ends when every port is done.
    await endAndFlush(outputs);
    ws.close(1000);
  });
}
