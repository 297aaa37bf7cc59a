import { mkdtemp, rm } from 'node:fs/promises';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientHeaderDecoder, fixAuthority } from './authority-fix.js';
import { CLIENT_PREFACE, Flag, FrameType } from './h2-frames.js';
import { type DecodedField, HpackDecoder } from './hpack.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** The header blocks in a client's byte stream (preface, then frames). */
function headerBlocks(bytes: Buffer): Buffer[] {
  const blocks: Buffer[] = [];
  let open: Buffer[] = [];
  for (let at = CLIENT_PREFACE.length; at + 9 <= bytes.length;) {
    const len = bytes.readUIntBE(at, 3);
    if (at + 9 + len > bytes.length) break;
    const [type, flags] = [bytes[at + 3]!, bytes[at + 4]!];
    const payload = bytes.subarray(at + 9, at + 9 + len);
    if (type === FrameType.HEADERS || type === FrameType.CONTINUATION) {
      open.push(payload);
      if (flags & Flag.END_HEADERS) {
        blocks.push(Buffer.concat(open));
        open = [];
      }
    }
    at += 9 + len;
  }
  return blocks;
}

/** What Node's own http2 client (nghttp2's encoder) sends for these requests, captured off a socket. */
async function nodeClientBlocks(requests: http2.OutgoingHttpHeaders[]): Promise<Buffer[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-hpack-'));
  const sock = path.join(dir, 'capture.sock');
  let bytes = Buffer.alloc(0);
  let done!: () => void;
  const captured = new Promise<void>((r) => (done = r));
  const server = net.createServer((s) =>
    s.on('data', (d: Buffer) => {
      bytes = Buffer.concat([bytes, d]);
      if (headerBlocks(bytes).length >= requests.length) done();
    }),
  );
  await new Promise<void>((r) => server.listen(sock, r));
  const client = http2.connect('http://localhost', { createConnection: () => net.connect(sock) });
  client.on('error', () => undefined);
  try {
    // One at a time, so the blocks arrive in this order.
    for (const h of requests) client.request(h, { endStream: true }).on('error', () => undefined);
    await captured;
    return headerBlocks(bytes);
  } finally {
    client.destroy();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const req = (authority?: string, extra: http2.OutgoingHttpHeaders = {}) => ({
  ':method': 'POST',
  ':path': '/runtime.v1.RuntimeService/Version',
  ...(authority === undefined ? {} : { ':authority': authority }),
  'content-type': 'application/grpc',
  ...extra,
});

const named = (fields: DecodedField[], name: string) => fields.filter((f) => f.name === name);

/**
 * Runs client blocks through fixAuthority and decodes what comes out as the
 * server would; returns both views per block and checks the tables stay in step.
 */
function relay(blocks: Buffer[]) {
  const client = new HpackDecoder();
  const fixer = clientHeaderDecoder();
  const server = new HpackDecoder();
  return blocks.map((b) => {
    const sent = client.decode(b);
    const out = fixAuthority(fixer, b);
    const seen = server.decode(out ?? b);
    expect(server.table.size).toBe(client.table.size);
    expect(server.table.length).toBe(client.table.length);
    return { sent, seen, changed: out !== undefined };
  });
}

describe('fixAuthority', () => {
  it('leaves a valid block untouched (RFC 7541 C.3.1)', () => {
    const d = clientHeaderDecoder();
    expect(fixAuthority(d, hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'))).toBe(
      undefined,
    );
    expect(d.table.get(1)).toEqual([':authority', 'www.example.com']);
  });

  it('rewrites the socket path grpc-go clients send, in the same representation and length', async () => {
    const blocks = await nodeClientBlocks([
      req('/run/berth/berth.sock'),
      req('/run/berth/berth.sock', { 'grpc-timeout': '2S' }),
      req('localhost'),
      req('/tmp/with space/é.sock'),
      req('%2Frun%2Fberth%2Fberth.sock'),
    ]);
    const views = relay(blocks);
    expect(views.map((v) => v.changed)).toEqual([true, false, false, true, false]);
    expect(views.map((v) => named(v.seen, ':authority')[0]!.value)).toEqual([
      '_run_berth_berth.sock',
      '_run_berth_berth.sock',
      'localhost',
      '_tmp_with_space__.sock', // Node sends é as one latin1 byte
      '%2Frun%2Fberth%2Fberth.sock',
    ]);
    for (const { sent, seen } of views) {
      const [a, b] = [named(sent, ':authority')[0]!, named(seen, ':authority')[0]!];
      expect(b.kind).toBe(a.kind);
      expect(b.value!.length).toBe(a.value!.length);
      // Every other field arrives as sent.
      const rest = (fs: DecodedField[]) =>
        fs.filter((f) => f.name !== ':authority').map((f) => [f.kind, f.name, f.value]);
      expect(rest(seen)).toEqual(rest(sent));
    }
    // nghttp2 indexes the first one; the second request refers to it by index.
    expect(named(views[0]!.sent, ':authority')[0]!.kind).toBe('incremental');
    expect(named(views[1]!.sent, ':authority')[0]!.kind).toBe('indexed');
  });

  it('gives a request without :authority or host one, after any table size update', () => {
    const [plain, sized] = relay([hex('8386 84'), hex('3fe11f 8386 84')]);
    for (const v of [plain!, sized!]) {
      expect(v.changed).toBe(true);
      expect(named(v.seen, ':authority').map((f) => [f.kind, f.value])).toEqual([
        ['without', 'localhost'],
      ]);
    }
    expect(sized!.seen[0]!.kind).toBe('size-update');
  });

  it('drops an empty :authority it can drop and adds localhost', () => {
    // Indexed static entry 1 (":authority" with no value), then the same as a literal.
    for (const block of ['8386 84 81', '8386 84 0100', '8386 84 1100']) {
      const [v] = relay([hex(block)]);
      expect(named(v!.seen, ':authority').map((f) => f.value)).toEqual(['localhost']);
    }
  });

  it('keeps an empty :authority the client adds to its table, so the tables stay in step', () => {
    const [v, w] = relay([hex('8386 84 4100'), hex('8386 84 be')]);
    expect(v!.changed).toBe(false);
    expect(w!.changed).toBe(true);
  });

  it('fixes host as well, and leaves trailers alone', () => {
    const [v] = relay([hex('8386 84 41096c6f63616c686f7374 6604612f6263')]);
    expect(named(v!.seen, 'host')[0]!.value).toBe('a_bc');
    // A trailers block has no :method and needs no authority.
    const [t] = relay([hex('400b677270632d737461747573 0130')]);
    expect(t!.changed).toBe(false);
  });
});
