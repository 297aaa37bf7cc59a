import { RstStatus } from './spdy/frames.js';
import type { SpdySession, SpdyStream } from './spdy/session.js';
import type { PortForwardRequest, StreamingRuntime } from './types.js';

// Port-forward over SPDY: each forwarded connection is a pair of streams, `error`
// and `data`, sharing `port` and `requestid` headers. Old clients omit requestid;
// then the error stream is the one opened just before the data stream.

export interface SpdyPortForwardOptions {
  streamCreationTimeoutMs: number;
}

interface Pair {
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

export function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,5}$/.test(value)) return undefined;
  const port = Number(value);
  return port >= 1 && port <= 65535 ? port : undefined;
}

export function serveSpdyPortForward(
  session: SpdySession,
  req: PortForwardRequest,
  runtime: StreamingRuntime,
  opts: SpdyPortForwardOptions,
): void {
  const pairs = new Map<string, Pair>();

  session.on('stream', (s: SpdyStream) => {
    const type = s.header('streamtype');
    if (type !== 'data' && type !== 'error') {
      s.resume();
      s.resetStream(RstStatus.RefusedStream);
      return;
    }
    const id = s.header('requestid') ?? String(type === 'error' ? s.id : s.id - 2);
    let pair = pairs.get(id);
    if (!pair) {
      const timer = setTimeout(() => {
        pairs.delete(id);
        pair?.data?.resetStream();
        pair?.error?.resetStream();
      }, opts.streamCreationTimeoutMs);
      timer.unref();
      pair = { timer };
      pairs.set(id, pair);
    }
    if (pair[type]) {
      s.resume();
      s.resetStream(RstStatus.ProtocolError);
      return;
    }
    pair[type] = s;
    if (type === 'error') s.resume(); // the client never writes on it
    if (pair.data && pair.error) {
      clearTimeout(pair.timer);
      pairs.delete(id);
      void forward(pair.data, pair.error);
    }
  });

  session.on('close', () => {
    for (const p of pairs.values()) clearTimeout(p.timer);
    pairs.clear();
  });

  async function forward(data: SpdyStream, error: SpdyStream): Promise<void> {
    const port = parsePort(data.header('port'));
    let failure: string | undefined;
    if (port === undefined) {
      failure = `invalid port header ${JSON.stringify(data.header('port') ?? '')}`;
    } else if (req.ports.length > 0 && !req.ports.includes(port)) {
      failure = `port ${port} was not requested for pod ${req.podSandboxId}`;
    } else {
      try {
        await runtime.portForward(req.podSandboxId, port, data);
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        failure = `error forwarding port ${port} to pod ${req.podSandboxId}, uid : ${msg}`;
      }
    }
    if (failure && !error.destroyed) error.write(failure);
    if (!error.destroyed) error.end();
    if (!data.destroyed && !data.writableEnded) data.end();
    if (failure && !data.destroyed) data.resume();
  }
}
