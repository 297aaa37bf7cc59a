import { endAndFlush } from './flush.js';
import { channelVersion, isBase64Channel } from './protocols.js';
import { runRemoteCommand, type CommandTarget } from './remote-command.js';
import { encodeOutcome } from './status.js';
import type { StreamingRuntime } from './types.js';
import { ChannelMux } from './websocket/channels.js';
import type { WebSocketConnection } from './websocket/connection.js';

// Exec and attach over WebSocket: channels 0 stdin, 1 stdout, 2 stderr, 3 error,
// 4 resize. The status goes on channel 3, then the socket closes normally.

export const Channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4 } as const;

export function serveWebSocketCommand(
  ws: WebSocketConnection,
  protocol: string,
  target: CommandTarget,
  runtime: StreamingRuntime,
  opts: { drainTimeoutMs: number },
): void {
  const version = channelVersion(protocol || 'channel.k8s.io');
  const mux = new ChannelMux(ws, isBase64Channel(protocol), version >= 5);
  const { req } = target;
  const stdout = req.stdout ? mux.writer(Channel.stdout) : undefined;
  const stderr = req.stderr && !req.tty ? mux.writer(Channel.stderr) : undefined;
  const error = mux.writer(Channel.error);
  const ends = {
    stdin: req.stdin ? mux.reader(Channel.stdin) : undefined,
    stdout,
    stderr,
    resize: req.tty ? mux.reader(Channel.resize) : undefined,
  };
  // An empty message on the lowest channel we write tells the client the streams are up.
  mux.send(stdout ? Channel.stdout : stderr ? Channel.stderr : Channel.error, Buffer.alloc(0));

  const ac = new AbortController();
  ws.once('close', () => ac.abort());
  void (async () => {
    const outcome = await runRemoteCommand(runtime, target, ends, ac.signal, opts.drainTimeoutMs);
    if (ws.isClosed) return;
    await endAndFlush([stdout, stderr]);
    const status = encodeOutcome(outcome, version >= 4);
    if (status) error.write(status);
    await endAndFlush([error]);
    ws.close(1000);
  })();
}
