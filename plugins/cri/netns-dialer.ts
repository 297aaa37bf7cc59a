// TCP connections to localhost inside pod network namespaces, for port-forward.
// Node cannot create one socket in another namespace, and berthd's own thread
// must never switch, so each namespace in use gets a small child (netns-dial.ts)
// that lives in it and hands back connected sockets over its IPC channel. The
// child stays while connections are being made and exits after a short idle
// time, so it does not keep a stopped pod's namespace alive.

import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errInternal, errUnavailable } from '../../api/errors.js';
import type { DialReply } from './netns-dial.js';

const DEFAULT_IDLE_MS = 10_000;
const READY_TIMEOUT_MS = 10_000;

/**
 * netns-dial.js beside this module (the tsc output), or beside the berthd bundle
 * (cmd/build.mjs HELPERS); a bundle without it falls back to the tsc output tree.
 */
function dialScript(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.join(here, 'netns-dial.js'),
    path.join(here, 'plugins', 'cri', 'netns-dial.js'),
  ];
  const js = candidates.find((f) => existsSync(f));
  if (js) return js;
  throw errInternal(`network namespace helper ${candidates[0]} is missing (run npm run build)`);
}

interface Pending {
  resolve: (s: net.Socket) => void;
  reject: (e: Error) => void;
}

/** One child living in one namespace. */
class NamespaceHelper {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private idle: NodeJS.Timeout | undefined;
  private stderr = '';
  readonly ready: Promise<void>;
  exited = false;

  constructor(
    netnsPath: string,
    private readonly idleMs: number,
    private readonly onGone: () => void,
  ) {
    this.child = fork(dialScript(), [netnsPath], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      execArgv: [],
      serialization: 'json',
    });
    this.child.stderr!.on('data', (b: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += b.toString('utf8');
    });
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(errUnavailable(`joining network namespace ${netnsPath} timed out`));
        this.stop();
      }, READY_TIMEOUT_MS);
      this.child.on('message', (m: DialReply, handle: unknown) => {
        if ('ready' in m) {
          clearTimeout(timer);
          resolve();
          return;
        }
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if ('error' in m) p?.reject(new Error(m.error));
        else if (handle instanceof net.Socket) {
          if (p) p.resolve(handle);
          else handle.destroy();
        } else p?.reject(errInternal('the connection was not passed back'));
        this.armIdle();
      });
      this.child.once('exit', (code) => {
        clearTimeout(timer);
        this.exited = true;
        const why = errUnavailable(
          `network namespace helper for ${netnsPath} exited (${code}): ${this.stderr.trim()}`,
        );
        reject(why);
        for (const p of this.pending.values()) p.reject(why);
        this.pending.clear();
        clearTimeout(this.idle);
        this.onGone();
      });
      this.child.once('error', () => this.stop());
    });
    this.ready.catch(() => {});
  }

  async dial(port: number): Promise<net.Socket> {
    await this.ready;
    clearTimeout(this.idle);
    const id = this.nextId++;
    return new Promise<net.Socket>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, port }, (err) => {
        if (!err) return;
        this.pending.delete(id);
        reject(err);
      });
    });
  }

  private armIdle(): void {
    if (this.pending.size > 0) return;
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.stop(), this.idleMs);
    this.idle.unref();
  }

  stop(): void {
    if (this.exited) return;
    if (this.child.connected) this.child.disconnect();
    this.child.kill('SIGKILL');
  }
}

export class NetnsDialer {
  private readonly helpers = new Map<string, NamespaceHelper>();

  constructor(private readonly idleMs = DEFAULT_IDLE_MS) {}

  /** Connects to localhost:port in the namespace pinned at netnsPath (the daemon's own when undefined). */
  async dial(netnsPath: string | undefined, port: number): Promise<net.Socket> {
    if (!netnsPath) return dialHere(port);
    let h = this.helpers.get(netnsPath);
    if (!h || h.exited) {
      const helper = new NamespaceHelper(netnsPath, this.idleMs, () => {
        if (this.helpers.get(netnsPath) === helper) this.helpers.delete(netnsPath);
      });
      h = helper;
      this.helpers.set(netnsPath, h);
    }
    return h.dial(port);
  }

  /** Helper processes currently running. */
  get running(): number {
    return this.helpers.size;
  }

  close(): void {
    for (const h of this.helpers.values()) h.stop();
    this.helpers.clear();
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
