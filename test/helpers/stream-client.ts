import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import zlib from 'node:zlib';
// The dictionary is a protocol constant; its bytes are pinned by a unit test.
import { SPDY3_DICTIONARY } from '../../plugins/streaming/spdy/dictionary.js';

// A client for the CRI streaming server with its own SPDY/3 and WebSocket framing
// (it shares no framing code with the server). Like moby/spdystream it does no
// flow control at all: it never sends WINDOW_UPDATE and ignores the server's.

export interface UpgradeAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  socket?: Socket;
  head?: Buffer;
}

/** Sends an upgrade request and returns the 101 socket or the refusal. */
export function upgrade(
  url: string,
  headers: Record<string, string | string[]>,
  method = 'POST',
): Promise<UpgradeAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false });
    req.on('upgrade', (res, socket, head) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '', socket, head });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves when the socket drains or closes. */
function drained(socket: Socket): Promise<void> {
  if (socket.destroyed || socket.writableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

// ---------------------------------------------------------------- SPDY/3

const CONTROL = 0x8000;
const T_SYN_STREAM = 1;
const T_SYN_REPLY = 2;
const T_RST = 3;
const T_PING = 6;
const T_GOAWAY = 7;

function inflateOnce(inflater: zlib.Inflate, input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const onData = (c: Buffer) => out.push(c);
    inflater.on('data', onData);
    inflater.once('error', reject);
    inflater.write(input);
    inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      inflater.off('data', onData);
      inflater.off('error', reject);
      resolve(Buffer.concat(out));
    });
  });
}

export class SpdyClientStream extends EventEmitter {
  readonly chunks: Buffer[] = [];
  received = 0;
  ended = false;
  reset = false;
  replied = false;
  /** Resolves when the server sent FIN or reset the stream. */
  readonly done: Promise<void>;
  collect = true;

  constructor(
    readonly conn: SpdyClient,
    readonly id: number,
  ) {
    super();
    this.done = new Promise((resolve) => {
      this.once('end', resolve);
      this.once('reset', resolve);
    });
  }

  /** All data received so far, as a string. */
  text(): string {
    return Buffer.concat(this.chunks).toString();
  }

  write(data: Buffer | string): Promise<void> {
    return this.conn.sendData(this.id, Buffer.from(data), false);
  }

  end(): Promise<void> {
    return this.conn.sendData(this.id, Buffer.alloc(0), true);
  }
}

export class SpdyClient extends EventEmitter {
  private nextId = 1;
  private buf = Buffer.alloc(0);
  private readonly streams = new Map<number, SpdyClientStream>();
  private readonly deflater = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY });
  private readonly inflater = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
  private inbound: Promise<unknown> = Promise.resolve();
  private outbound: Promise<unknown> = Promise.resolve();
  private pings = new Map<number, () => void>();
  goaway = false;
  readonly closed: Promise<void>;

  constructor(
    readonly socket: Socket,
    readonly protocol: string,
    head?: Buffer,
  ) {
    super();
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    // After frames already read are handled (header inflation is asynchronous).
    socket.on('close', () => {
      this.inbound = this.inbound.then(() => {
        for (const s of this.streams.values()) {
          if (!s.ended && !s.reset) {
            s.reset = true;
            s.emit('reset');
          }
        }
      });
    });
    socket.on('data', (c: Buffer) => this.onBytes(c));
    if (head && head.length > 0) this.onBytes(head);
  }

  static async connect(
    url: string,
    protocols: string[],
  ): Promise<{ client?: SpdyClient; answer: UpgradeAnswer }> {
    const answer = await upgrade(url, {
      Connection: 'Upgrade',
      Upgrade: 'SPDY/3.1',
      'X-Stream-Protocol-Version': protocols,
    });
    if (answer.status !== 101 || !answer.socket) return { answer };
    const protocol = String(answer.headers['x-stream-protocol-version'] ?? '');
    return { client: new SpdyClient(answer.socket, protocol, answer.head), answer };
  }

  /** SYN_STREAM, then wait for the SYN_REPLY (as client-go does). */
  async openStream(headers: Record<string, string>): Promise<SpdyClientStream> {
    const id = this.nextId;
    this.nextId += 2;
    const stream = new SpdyClientStream(this, id);
    this.streams.set(id, stream);
    const replied = new Promise<void>((resolve, reject) => {
      stream.once('reply', resolve);
      stream.once('reset', () => reject(new Error(`stream ${id} reset before reply`)));
    });
    const step = this.outbound.then(async () => {
      const block = await this.compress(headers);
      const p = Buffer.alloc(10);
      p.writeUInt32BE(id, 0);
      this.socket.write(this.control(T_SYN_STREAM, 0, Buffer.concat([p, block])));
    });
    this.outbound = step.catch(() => undefined);
    await step;
    await replied;
    return stream;
  }

  sendData(id: number, data: Buffer, fin: boolean): Promise<void> {
    const step = this.outbound.then(async () => {
      let off = 0;
      do {
        const part = data.subarray(off, off + 32 * 1024);
        off += part.length;
        const h = Buffer.alloc(8);
        h.writeUInt32BE(id & 0x7fffffff, 0);
        h.writeUInt32BE((((fin && off >= data.length ? 1 : 0) << 24) | part.length) >>> 0, 4);
        if (!this.socket.write(Buffer.concat([h, part]))) await drained(this.socket);
      } while (off < data.length);
    });
    this.outbound = step.catch(() => undefined);
    return step;
  }

  ping(): Promise<void> {
    const id = 1 + 2 * this.pings.size;
    const p = Buffer.alloc(4);
    p.writeUInt32BE(id);
    return new Promise((resolve) => {
      this.pings.set(id, resolve);
      this.socket.write(this.control(T_PING, 0, p));
    });
  }

  /** Sends raw bytes (for malformed-input tests). */
  raw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private control(type: number, flags: number, payload: Buffer): Buffer {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(CONTROL | 3, 0);
    h.writeUInt16BE(type, 2);
    h.writeUInt32BE(((flags << 24) | payload.length) >>> 0, 4);
    return Buffer.concat([h, payload]);
  }

  private compress(headers: Record<string, string>): Promise<Buffer> {
    const entries = Object.entries(headers);
    const parts: Buffer[] = [Buffer.from([0, 0, 0, entries.length])];
    for (const [k, v] of entries) {
      for (const s of [k.toLowerCase(), v]) {
        const b = Buffer.from(s);
        const l = Buffer.alloc(4);
        l.writeUInt32BE(b.length);
        parts.push(l, b);
      }
    }
    return new Promise((resolve) => {
      const out: Buffer[] = [];
      const onData = (c: Buffer) => out.push(c);
      this.deflater.on('data', onData);
      this.deflater.write(Buffer.concat(parts));
      this.deflater.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        this.deflater.off('data', onData);
        resolve(Buffer.concat(out));
      });
    });
  }

  private onBytes(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4) & 0xffffff;
      if (this.buf.length < 8 + len) break;
      const frame = this.buf.subarray(0, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      const flags = frame[4]!;
      const payload = frame.subarray(8);
      if ((frame[0]! & 0x80) === 0) {
        const id = frame.readUInt32BE(0) & 0x7fffffff;
        this.inbound = this.inbound.then(() => this.onStreamData(id, payload, (flags & 1) !== 0));
      } else {
        const type = frame.readUInt16BE(2);
        this.inbound = this.inbound.then(() => this.onControl(type, flags, payload));
      }
    }
  }

  private onStreamData(id: number, data: Buffer, fin: boolean): void {
    const s = this.streams.get(id);
    if (!s || !s.replied) return; // spdystream drops data before the reply too
    if (data.length > 0) {
      s.received += data.length;
      if (s.collect) s.chunks.push(Buffer.from(data));
      s.emit('data', data);
    }
    if (fin && !s.ended) {
      s.ended = true;
      s.emit('end');
    }
  }

  private async onControl(type: number, flags: number, p: Buffer): Promise<void> {
    switch (type) {
      case T_SYN_REPLY: {
        const id = p.readUInt32BE(0) & 0x7fffffff;
        await inflateOnce(this.inflater, p.subarray(4));
        const s = this.streams.get(id);
        if (s && !s.replied) {
          s.replied = true;
          s.emit('reply');
        }
        if (s && flags & 1) this.onStreamData(id, Buffer.alloc(0), true);
        return;
      }
      case T_RST: {
        const s = this.streams.get(p.readUInt32BE(0) & 0x7fffffff);
        if (s && !s.reset) {
          s.reset = true;
          s.emit('reset', p.readUInt32BE(4));
        }
        return;
      }
      case T_PING:
        this.pings.get(p.readUInt32BE(0))?.();
        return;
      case T_GOAWAY:
        this.goaway = true;
        this.emit('goaway');
        return;
      default:
        return; // SETTINGS, WINDOW_UPDATE: ignored, as spdystream does
    }
  }
}

/** client-go's reading of the v4 error stream. */
export function exitCodeFromStatus(text: string): number | { error: string } {
  if (text === '') return 0;
  let status: {
    status?: string;
    reason?: string;
    message?: string;
    details?: { causes?: { reason?: string; message?: string }[] };
  };
  try {
    status = JSON.parse(text);
  } catch {
    return { error: text };
  }
  if (status.status === 'Success') return 0;
  if (status.reason === 'NonZeroExitCode') {
    const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
    if (cause?.message) return Number(cause.message);
  }
  return { error: status.message ?? text };
}

export interface ExecOptions {
  protocols?: string[];
  stdin?: Buffer | ((write: (b: Buffer) => Promise<void>) => Promise<void>);
  tty?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  resize?: { Width: number; Height: number }[];
  /** Receive stdout without keeping it (large transfers). */
  onStdout?: (chunk: Buffer) => void;
}

export interface ExecResult {
  protocol: string;
  stdout: Buffer;
  stderr: Buffer;
  errorText: string;
  exitCode: number | { error: string };
  stdoutBytes: number;
}

/** Exec or attach over SPDY the way client-go sets up its streams. */
export async function spdyExec(url: string, opts: ExecOptions = {}): Promise<ExecResult> {
  const protocols = opts.protocols ?? [
    'v5.channel.k8s.io',
    'v4.channel.k8s.io',
    'v3.channel.k8s.io',
    'v2.channel.k8s.io',
    'channel.k8s.io',
  ];
  const { client, answer } = await SpdyClient.connect(url, protocols);
  if (!client) throw new Error(`upgrade refused: ${answer.status} ${answer.body}`);
  const error = await client.openStream({ streamtype: 'error' });
  const stdin = opts.stdin ? await client.openStream({ streamtype: 'stdin' }) : undefined;
  const stdout =
    opts.stdout !== false ? await client.openStream({ streamtype: 'stdout' }) : undefined;
  const stderr =
    opts.stderr !== false && !opts.tty
      ? await client.openStream({ streamtype: 'stderr' })
      : undefined;
  const version = /^v(\d)/.exec(client.protocol)?.[1];
  const resize =
    opts.tty && Number(version ?? 1) >= 3
      ? await client.openStream({ streamtype: 'resize' })
      : undefined;
  if (stdout && opts.onStdout) {
    stdout.collect = false;
    stdout.on('data', opts.onStdout);
  }
  for (const r of opts.resize ?? []) await resize?.write(JSON.stringify(r) + '\n');
  if (stdin && opts.stdin) {
    if (Buffer.isBuffer(opts.stdin)) await stdin.write(opts.stdin);
    else await opts.stdin((b) => stdin.write(b));
    await stdin.end();
  }
  await Promise.all([error.done, stdout?.done, stderr?.done]);
  const errorText = error.text();
  client.destroy();
  return {
    protocol: client.protocol,
    stdout: Buffer.concat(stdout?.chunks ?? []),
    stderr: Buffer.concat(stderr?.chunks ?? []),
    errorText,
    exitCode: exitCodeFromStatus(
      client.protocol.startsWith('v4') || client.protocol.startsWith('v5')
        ? errorText
        : errorText
          ? JSON.stringify({ message: errorText })
          : '',
    ),
    stdoutBytes: stdout?.received ?? 0,
  };
}

// ---------------------------------------------------------------- WebSocket

export class WsClient extends EventEmitter {
  private buf = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentOpcode = 0;
  closeCode: number | undefined;
  readonly closed: Promise<number | undefined>;

  constructor(
    readonly socket: Socket,
    readonly protocol: string,
    head?: Buffer,
  ) {
    super();
    this.closed = new Promise((resolve) => socket.once('close', () => resolve(this.closeCode)));
    socket.on('error', () => undefined);
    socket.on('data', (c: Buffer) => this.onBytes(c));
    // Messages that arrive with the 101 response wait for the first listener.
    this.on('newListener', (event: string) => {
      if (event !== 'message' || this.backlog.length === 0) return;
      setImmediate(() => {
        // Later arrivals queue behind the backlog, so order is kept.
        while (this.backlog.length > 0) this.emit('message', ...this.backlog.shift()!);
      });
    });
    if (head && head.length > 0) this.onBytes(head);
  }

  private backlog: [Buffer, boolean][] = [];

  private deliver(message: Buffer, binary: boolean): void {
    if (this.listenerCount('message') === 0 || this.backlog.length > 0) {
      this.backlog.push([message, binary]);
    } else {
      this.emit('message', message, binary);
    }
  }

  static async connect(
    url: string,
    protocols: string[],
  ): Promise<{ client?: WsClient; answer: UpgradeAnswer }> {
    const key = randomBytes(16).toString('base64');
    const headers: Record<string, string> = {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': key,
    };
    if (protocols.length > 0) headers['Sec-WebSocket-Protocol'] = protocols.join(', ');
    const answer = await upgrade(url, headers, 'GET');
    if (answer.status !== 101 || !answer.socket) return { answer };
    const expected = createHash('sha1')
      .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
      .digest('base64');
    if (answer.headers['sec-websocket-accept'] !== expected) {
      answer.socket.destroy();
      throw new Error('bad Sec-WebSocket-Accept');
    }
    const protocol = String(answer.headers['sec-websocket-protocol'] ?? '');
    return { client: new WsClient(answer.socket, protocol, answer.head), answer };
  }

  /** Sends one masked frame; resolves once the socket took it. */
  sendFrame(opcode: number, payload: Buffer, fin = true): Promise<void> {
    const mask = randomBytes(4);
    const len = payload.length;
    const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
    const h = Buffer.alloc(2 + ext + 4);
    h[0] = (fin ? 0x80 : 0) | opcode;
    h[1] = 0x80 | (ext === 0 ? len : ext === 2 ? 126 : 127);
    if (ext === 2) h.writeUInt16BE(len, 2);
    if (ext === 8) h.writeBigUInt64BE(BigInt(len), 2);
    mask.copy(h, 2 + ext);
    const body = Buffer.from(payload);
    for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ mask[i % 4]!;
    const ok = this.socket.write(Buffer.concat([h, body]));
    return ok ? Promise.resolve() : drained(this.socket);
  }

  send(data: Buffer | string, binary = true): Promise<void> {
    return this.sendFrame(binary ? 2 : 1, Buffer.from(data));
  }

  close(code = 1000): Promise<void> {
    const p = Buffer.alloc(2);
    p.writeUInt16BE(code);
    return this.sendFrame(8, p);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onBytes(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.buf.length < 2) return;
      let len = this.buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      if (this.buf[1]! & 0x80) throw new Error('server frames must not be masked');
      if (this.buf.length < off + len) return;
      const fin = (this.buf[0]! & 0x80) !== 0;
      const opcode = this.buf[0]! & 0x0f;
      const payload = Buffer.from(this.buf.subarray(off, off + len));
      this.buf = this.buf.subarray(off + len);
      if (opcode === 8) {
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.emit('close-frame', this.closeCode);
        continue;
      }
      if (opcode === 9) {
        void this.sendFrame(10, payload);
        continue;
      }
      if (opcode === 10) continue;
      if (opcode !== 0) this.fragmentOpcode = opcode;
      this.fragments.push(payload);
      if (!fin) continue;
      const message = Buffer.concat(this.fragments);
      this.fragments = [];
      this.deliver(message, this.fragmentOpcode === 2);
    }
  }
}

/** Channel-numbered view of a k8s WebSocket stream connection. */
export class WsChannels {
  readonly data = new Map<number, Buffer[]>();
  readonly base64: boolean;
  /** Messages whose type (text/binary) did not match the protocol. */
  violations = 0;

  constructor(readonly ws: WsClient) {
    this.base64 = ws.protocol.includes('base64');
    ws.on('message', (m: Buffer, binary: boolean) => {
      if (m.length === 0) return;
      const ch = this.base64 ? m[0]! - 48 : m[0]!;
      const payload = this.base64 ? Buffer.from(m.subarray(1).toString(), 'base64') : m.subarray(1);
      if (this.base64 === binary) this.violations++;
      const list = this.data.get(ch) ?? [];
      list.push(payload);
      this.data.set(ch, list);
      this.emit(ch, payload);
    });
  }

  private listeners = new Map<number, ((b: Buffer) => void)[]>();
  on(ch: number, fn: (b: Buffer) => void): void {
    this.listeners.set(ch, [...(this.listeners.get(ch) ?? []), fn]);
  }
  private emit(ch: number, b: Buffer): void {
    for (const fn of this.listeners.get(ch) ?? []) fn(b);
  }

  text(ch: number): string {
    return Buffer.concat(this.data.get(ch) ?? []).toString();
  }

  async send(ch: number, data: Buffer | string): Promise<void> {
    const b = Buffer.from(data);
    for (let off = 0; off === 0 || off < b.length; off += 30 * 1024) {
      const part = b.subarray(off, off + 30 * 1024);
      if (this.base64)
        await this.ws.send(String.fromCharCode(48 + ch) + part.toString('base64'), false);
      else await this.ws.send(Buffer.concat([Buffer.from([ch]), part]), true);
    }
  }
}

/** Exec or attach over WebSocket; stdin EOF uses the v5 close signal when negotiated. */
export async function wsExec(
  url: string,
  opts: ExecOptions & { protocols: string[] },
): Promise<ExecResult & { closeCode: number | undefined }> {
  const { client, answer } = await WsClient.connect(url, opts.protocols);
  if (!client) throw new Error(`upgrade refused: ${answer.status} ${answer.body}`);
  const ch = new WsChannels(client);
  let stdoutBytes = 0;
  if (opts.onStdout) {
    const fn = opts.onStdout;
    ch.on(1, (b) => {
      stdoutBytes += b.length;
      fn(b);
    });
    ch.data.set(1, []);
  } else {
    ch.on(1, (b) => (stdoutBytes += b.length));
  }
  for (const r of opts.resize ?? []) await ch.send(4, JSON.stringify(r));
  if (opts.stdin) {
    if (Buffer.isBuffer(opts.stdin)) await ch.send(0, opts.stdin);
    else await opts.stdin((b) => ch.send(0, b));
    if (client.protocol.startsWith('v5')) await client.send(Buffer.from([255, 0]));
  }
  if (opts.onStdout) {
    // Keep memory flat: drop what the callback already saw.
    ch.on(1, () => ch.data.set(1, []));
  }
  const closeCode = await client.closed;
  const errorText = ch.text(3);
  const json = client.protocol.startsWith('v4') || client.protocol.startsWith('v5');
  return {
    protocol: client.protocol,
    stdout: Buffer.concat(ch.data.get(1) ?? []),
    stderr: Buffer.concat(ch.data.get(2) ?? []),
    errorText,
    exitCode: exitCodeFromStatus(
      json ? errorText : errorText ? JSON.stringify({ message: errorText }) : '',
    ),
    stdoutBytes,
    closeCode,
  };
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
