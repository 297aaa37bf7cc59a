// The client → server byte stream of one HTTP/2 connection, on its way to
// Node's http2: checks the client preface, walks frames by their 9-byte
// headers, and passes every byte through untouched except header blocks, which
// go through fixAuthority. Anything it does not follow (an HPACK error, a
// broken HEADERS/CONTINUATION sequence, an oversized frame) switches the
// connection to plain pass-through, so nghttp2 judges the error as it would
// without the front door.

import { clientHeaderDecoder, fixAuthority } from './authority-fix.js';
import {
  CLIENT_PREFACE,
  Flag,
  FRAME_HEADER_SIZE,
  FrameType,
  headerFrames,
  MAX_FRAME_SIZE,
} from './h2-frames.js';
import { HpackError } from './hpack.js';

/** Header block bytes collected before giving up on following a block. */
const MAX_BLOCK = 256 * 1024;

interface OpenBlock {
  streamId: number;
  flags: number;
  priority: Buffer | undefined;
  /** The frames as received, sent on unchanged when the block needs no change. */
  raw: Buffer[];
  fragments: Buffer[];
  size: number;
}

export class ClientFrames {
  private prefaceSeen = 0;
  private readonly head = Buffer.alloc(FRAME_HEADER_SIZE);
  private headLen = 0;
  /** Payload bytes of a passed-through frame still to come. */
  private skip = 0;
  /** A header-block frame whose payload is being collected. */
  private frame: { header: Buffer; parts: Buffer[]; need: number } | undefined;
  private block: OpenBlock | undefined;
  private readonly decoder = clientHeaderDecoder();
  private out: Buffer[] = [];
  /** Why the connection is passed through unchanged, once it is. */
  passthrough: string | undefined;
  /** Header blocks changed so far. */
  rewritten = 0;

  get prefaceComplete(): boolean {
    return this.prefaceSeen === CLIENT_PREFACE.length;
  }

  /** The bytes to hand on for `chunk`, or null when it is not an HTTP/2 client preface. */
  push(chunk: Buffer): Buffer | null {
    let pos = 0;
    if (!this.prefaceComplete) {
      const n = Math.min(CLIENT_PREFACE.length - this.prefaceSeen, chunk.length);
      if (CLIENT_PREFACE.compare(chunk, 0, n, this.prefaceSeen, this.prefaceSeen + n) !== 0) {
        return null;
      }
      this.prefaceSeen += n;
      pos = n;
    }
    if (this.passthrough) return chunk;
    let from = 0;
    let headerStart = -1;
    while (pos < chunk.length) {
      if (this.passthrough) return this.flush(chunk.subarray(pos));
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - pos);
        this.skip -= n;
        pos += n;
        continue;
      }
      if (this.frame) {
        const n = Math.min(this.frame.need, chunk.length - pos);
        this.frame.parts.push(chunk.subarray(pos, pos + n));
        this.frame.need -= n;
        pos += n;
        from = pos;
        if (this.frame.need === 0) this.completeFrame();
        continue;
      }
      if (this.headLen === 0) headerStart = pos;
      const n = Math.min(FRAME_HEADER_SIZE - this.headLen, chunk.length - pos);
      chunk.copy(this.head, this.headLen, pos, pos + n);
      this.headLen += n;
      pos += n;
      if (this.headLen < FRAME_HEADER_SIZE) break;
      this.headLen = 0;
      const length = this.head.readUIntBE(0, 3);
      const type = this.head[3]!;
      const isBlockFrame = type === FrameType.HEADERS || type === FrameType.CONTINUATION;
      if (!this.block && !isBlockFrame && type !== FrameType.PUSH_PROMISE) {
        // Passed through; a header begun in an earlier chunk was held back.
        if (headerStart < 0) {
          this.out.push(Buffer.from(this.head));
          from = pos;
        }
        this.skip = length;
        continue;
      }
      if (headerStart > from) this.out.push(chunk.subarray(from, headerStart));
      from = pos;
      const header = Buffer.from(this.head);
      const why = this.unfollowable(type, length, header.readUInt32BE(5) & 0x7fffffff);
      if (why) {
        this.toPassthrough(why, header);
        return this.flush(chunk.subarray(pos));
      }
      this.frame = { header, parts: [], need: length };
      if (length === 0) this.completeFrame();
    }
    // Hold back a frame header cut by the end of the chunk.
    const end = this.headLen > 0 ? Math.max(headerStart, from) : chunk.length;
    if (end > from) this.out.push(chunk.subarray(from, end));
    return this.flush();
  }

  private unfollowable(type: number, length: number, streamId: number): string | undefined {
    if (type === FrameType.PUSH_PROMISE) return 'PUSH_PROMISE from a client';
    if (length > MAX_FRAME_SIZE) return `frame of ${length} bytes`;
    if (this.block) {
      if (type !== FrameType.CONTINUATION || streamId !== this.block.streamId) {
        return 'header block interrupted';
      }
      if (this.block.size + length > MAX_BLOCK) return 'header block too large';
    } else if (type === FrameType.CONTINUATION) {
      return 'CONTINUATION without HEADERS';
    }
    return undefined;
  }

  private completeFrame(): void {
    const { header, parts } = this.frame!;
    this.frame = undefined;
    const payload = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const flags = header[4]!;
    if (header[3] === FrameType.HEADERS) {
      let start = 0;
      let end = payload.length;
      if (flags & Flag.PADDED) {
        if (payload.length === 0) return this.toPassthrough('bad HEADERS padding', header, payload);
        end -= payload[start++]!;
      }
      const priority = flags & Flag.PRIORITY ? payload.subarray(start, start + 5) : undefined;
      if (priority) start += 5;
      if (start > end) return this.toPassthrough('bad HEADERS padding', header, payload);
      this.block = {
        streamId: header.readUInt32BE(5) & 0x7fffffff,
        flags,
        priority,
        raw: [header, payload],
        fragments: [payload.subarray(start, end)],
        size: end - start,
      };
    } else {
      this.block!.raw.push(header, payload);
      this.block!.fragments.push(payload);
      this.block!.size += payload.length;
    }
    if (flags & Flag.END_HEADERS) this.completeBlock();
  }

  private completeBlock(): void {
    const b = this.block!;
    this.block = undefined;
    const fragment = b.fragments.length === 1 ? b.fragments[0]! : Buffer.concat(b.fragments);
    let fixed: Buffer | undefined;
    try {
      fixed = fixAuthority(this.decoder, fragment);
    } catch (err) {
      if (!(err instanceof HpackError)) throw err;
      this.block = b;
      return this.toPassthrough(`HPACK: ${err.message}`);
    }
    if (!fixed) {
      this.out.push(...b.raw);
      return;
    }
    this.rewritten++;
    const keep = b.flags & (Flag.END_STREAM | Flag.PRIORITY);
    this.out.push(...headerFrames(b.streamId, keep, b.priority, fixed));
  }

  /** From here on every byte goes through as received, starting with the open block's. */
  private toPassthrough(reason: string, ...held: Buffer[]): void {
    this.passthrough = reason;
    if (this.block) this.out.push(...this.block.raw);
    this.block = undefined;
    this.out.push(...held);
  }

  private flush(rest?: Buffer): Buffer {
    if (rest?.length) this.out.push(rest);
    const out = this.out;
    this.out = [];
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }
}
