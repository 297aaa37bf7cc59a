import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AsyncQueue } from './async-queue.js';
import { AttachHub } from './attach-hub.js';
import type { CommandStreams, TerminalSize } from './types.js';

function sink(): { w: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(c);
      cb();
    },
  });
  return { w, text: () => Buffer.concat(chunks).toString() };
}

function client(stdin?: PassThrough): {
  streams: CommandStreams;
  out: ReturnType<typeof sink>;
  ac: AbortController;
} {
  const out = sink();
  const ac = new AbortController();
  return {
    out,
    ac,
    streams: {
      stdin,
      stdout: out.w,
      tty: false,
      resize: new AsyncQueue<TerminalSize>(),
      signal: ac.signal,
    },
  };
}

describe('AttachHub', () => {
  it('copies output to every client and merges their input', async () => {
    const procStdin = new PassThrough();
    const hub = new AttachHub({ stdin: procStdin, stdinOnce: false, tty: false });
    const inA = new PassThrough();
    const a = client(inA);
    const b = client();
    const pa = hub.attach(a.streams);
    const pb = hub.attach(b.streams);
    hub.publish('stdout', Buffer.from('x'));
    inA.write('typed');
    await new Promise((r) => setImmediate(r));
    expect(procStdin.read()?.toString()).toBe('typed');
    inA.end(); // without stdin_once the process keeps its stdin
    await new Promise((r) => setImmediate(r));
    expect(procStdin.writableEnded).toBe(false);
    a.ac.abort();
    await pa;
    hub.publish('stdout', Buffer.from('y'));
    hub.end();
    await pb;
    expect(a.out.text()).toBe('x');
    expect(b.out.text()).toBe('xy');
  });

  it('stdin_once: the first client EOF closes the process stdin', async () => {
    const procStdin = new PassThrough();
    const hub = new AttachHub({ stdin: procStdin, stdinOnce: true, tty: false });
    const inA = new PassThrough();
    void hub.attach(client(inA).streams);
    inA.end('last');
    await new Promise((r) => setImmediate(r));
    expect(procStdin.writableEnded).toBe(true);
    expect(procStdin.read()?.toString()).toBe('last');
    hub.end();
  });

  it('an attach after the process ended returns at once', async () => {
    const hub = new AttachHub({ stdinOnce: false, tty: false });
    hub.end();
    await hub.attach(client().streams);
    expect(hub.attached).toBe(0);
  });
});
