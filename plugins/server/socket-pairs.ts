// Connected pairs of native unix sockets inside this process. Node has no
// socketpair(); a private listener stands in for it: each pair is a connection
// to it that introduces itself with a random token, so a connection made by
// anything else is closed. Native sockets matter to the gRPC front door: Node's
// http2 drives a native socket directly, where a JS stream costs it an extra
// event loop turn per write.

import { randomBytes } from 'node:crypto';
import { chmod } from 'node:fs/promises';
import net from 'node:net';

const TOKEN_BYTES = 16;
/** A connection to the private socket must say its token at once. */
const TOKEN_TIMEOUT_MS = 5000;

export class SocketPairs {
  private readonly server = net.createServer((s) => this.arrived(s));
  private readonly waiting = new Map<string, (theirs: net.Socket) => void>();

  constructor(readonly path: string) {}

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.path, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    // Only this process connects; the token is what keeps others out.
    await chmod(this.path, 0o600);
    // An accept that fails (no fds) fails that pair's connect too; nothing to do here.
    this.server.on('error', () => undefined);
  }

  /** Two connected sockets: one to keep, one to hand on. */
  pair(): Promise<{ ours: net.Socket; theirs: net.Socket }> {
    const token = randomBytes(TOKEN_BYTES);
    const key = token.toString('hex');
    return new Promise((resolve, reject) => {
      const ours = net.connect(this.path);
      const fail = (err: Error) => {
        this.waiting.delete(key);
        ours.destroy();
        reject(err);
      };
      const closed = () => fail(new Error('private socket pair closed while connecting'));
      ours.once('error', fail);
      ours.once('close', closed);
      this.waiting.set(key, (theirs) => {
        ours.off('error', fail);
        ours.off('close', closed);
        resolve({ ours, theirs });
      });
      ours.write(token);
    });
  }

  close(): void {
    this.server.close();
  }

  private arrived(s: net.Socket): void {
    const timer = setTimeout(() => s.destroy(), TOKEN_TIMEOUT_MS).unref();
    s.on('error', () => s.destroy());
    const onReadable = () => {
      const token = s.read(TOKEN_BYTES) as Buffer | null;
      if (token === null) return;
      s.off('readable', onReadable);
      clearTimeout(timer);
      const key = token.toString('hex');
      const done = this.waiting.get(key);
      if (!done) return void s.destroy();
      this.waiting.delete(key);
      done(s);
    };
    s.on('readable', onReadable);
  }
}
