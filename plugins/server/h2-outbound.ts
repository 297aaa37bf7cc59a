// The server → client byte stream of one HTTP/2 connection: walks frame
// headers only, to notice the GOAWAY frames Node's http2 sends, so the front
// door can close a connection the server has given up on.

import { FRAME_HEADER_SIZE, FrameType } from './h2-frames.js';

export interface Goaway {
  errorCode: number;
  lastStreamId: number;
  /** The debug data, trimmed to a log-friendly length. */
  debug: string;
}

/** GOAWAY bytes kept: stream id, error code and the start of the debug data. */
const KEEP = 8 + 120;

export class ServerFrames {
  private readonly head = Buffer.alloc(FRAME_HEADER_SIZE);
  private headLen = 0;
  private skip = 0;
  /** The start of the GOAWAY payload being read. */
  private goaway: { parts: Buffer[]; kept: number } | undefined;

  /** Feeds bytes the server wrote; returns the GOAWAY frames they complete. */
  push(chunk: Uint8Array): Goaway[] {
    const found: Goaway[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - pos);
        if (this.goaway) {
          const g = this.goaway;
          const keep = Math.min(n, KEEP - g.kept);
          if (keep > 0) g.parts.push(Buffer.from(chunk.subarray(pos, pos + keep)));
          g.kept += keep;
        }
        this.skip -= n;
        pos += n;
        if (this.skip === 0 && this.goaway) found.push(this.endGoaway());
        continue;
      }
      const n = Math.min(FRAME_HEADER_SIZE - this.headLen, chunk.length - pos);
      this.head.set(chunk.subarray(pos, pos + n), this.headLen);
      this.headLen += n;
      pos += n;
      if (this.headLen < FRAME_HEADER_SIZE) break;
      this.headLen = 0;
      this.skip = this.head.readUIntBE(0, 3);
      if (this.head[3] === FrameType.GOAWAY) {
        this.goaway = { parts: [], kept: 0 };
        if (this.skip === 0) found.push(this.endGoaway());
      }
    }
    return found;
  }

  private endGoaway(): Goaway {
    const p = Buffer.concat(this.goaway!.parts);
    this.goaway = undefined;
    return {
      lastStreamId: p.length >= 4 ? p.readUInt32BE(0) & 0x7fffffff : 0,
      errorCode: p.length >= 8 ? p.readUInt32BE(4) : 0,
      debug: p.subarray(8).toString('latin1'),
    };
  }
}
