import { endAndFlush } from './flush.js';
import { channelVersion } from './protocols.js';
import { runRemoteCommand, type CommandTarget } from './remote-command.js';
import { RstStatus } from './spdy/frames.js';
import type { SpdySession, SpdyStream } from './spdy/session.js';
import { encodeOutcome } from './status.js';
import type { StreamingRuntime } from './types.js';

// Exec and attach over SPDY: the client opens one stream per `streamtype` (error
// first, then stdin, stdout, stderr unless tty, resize if tty from v3 on); we start
// once the expected set is there and finish by writing the status on `error` and
// closing the connection.

export interface SpdyCommandOptions {
  streamCreationTimeoutMs: number;
  drainTimeoutMs: number;
}

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

export function expectedStreamTypes(target: CommandTarget, version: number): Set<StreamType> {
  const { req } = target;
  const want = new Set<StreamType>(['error']);
  if (req.stdin) want.add('stdin');
  if (req.stdout) want.add('stdout');
  if (req.stderr && !req.tty) want.add('stderr');
  if (req.tty && version >= 3) want.add('resize');
  return want;
}

export function serveSpdyCommand(
  session: SpdySession,
  protocol: string,
  target: CommandTarget,
  runtime: StreamingRuntime,
  opts: SpdyCommandOptions,
): void {
  const version = channelVersion(protocol || 'channel.k8s.io');
  const want = expectedStreamTypes(target, version);
  const got = new Map<StreamType, SpdyStream>();
  let started = false;

  const timer = setTimeout(() => {
    if (!started) session.destroy();
  }, opts.streamCreationTimeoutMs);
  timer.unref();

  session.on('stream', (s: SpdyStream) => {
    const type = s.header('streamtype') as StreamType | undefined;
    if (started || !type || !want.has(type) || got.has(type)) {
      // Not one we serve: drain and drop it.
      s.resume();
      s.resetStream(RstStatus.RefusedStream);
      return;
    }
    // Only stdin and resize carry client data; anything sent on the others is dropped.
    if (type !== 'stdin' && type !== 'resize') s.resume();
    got.set(type, s);
    if (got.size === want.size) {
      started = true;
      clearTimeout(timer);
      void run();
    }
  });
  session.on('close', () => clearTimeout(timer));

  async function run(): Promise<void> {
    const ac = new AbortController();
    const onClose = () => ac.abort();
    session.once('close', onClose);
    const outcome = await runRemoteCommand(
      runtime,
      target,
      {
        stdin: got.get('stdin'),
        stdout: got.get('stdout'),
        stderr: got.get('stderr'),
        resize: got.get('resize'),
      },
      ac.signal,
      opts.drainTimeoutMs,
    );
    session.off('close', onClose);
    if (session.isClosed) return;
    const errorStream = got.get('error')!;
    const status = encodeOutcome(outcome, version >= 4);
    if (status) errorStream.write(status);
    await endAndFlush([...got.values()]);
    session.close();
  }
}
