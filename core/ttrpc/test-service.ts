import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { decodeResponse, encodeRequest, type RequestEnvelope } from './envelope.js';
import { FrameReader, MessageType, encodeFrame, type Frame, type FrameEvent } from './frame.js';
import { AsyncQueue } from './queue.js';

// Test support for the ttrpc tests: a small hand-written service in the shape
// ts-proto generates (message Note { string text = 1; uint32 count = 2; }) and a
// frame-level peer for driving either side of the protocol by hand.

export interface Note {
  text: string;
  count: number;
}

export const Note = {
  encode(message: Note, writer: BinaryWriter = new BinaryWriter()): BinaryWriter {
    if (message.text !== '') writer.uint32(10).string(message.text);
    if (message.count !== 0) writer.uint32(16).uint32(message.count);
    return writer;
  },
  decode(input: BinaryReader | Uint8Array, length?: number): Note {
    const reader = input instanceof BinaryReader ? input : new BinaryReader(input);
    const end = length === undefined ? reader.len : reader.pos + length;
    const message: Note = { text: '', count: 0 };
    while (reader.pos < end) {
      const [field, wireType] = reader.tag();
      if (field === 1 && wireType === WireType.LengthDelimited) message.text = reader.string();
      else if (field === 2 && wireType === WireType.Varint) message.count = reader.uint32();
      else reader.skip(wireType, field);
    }
    return message;
  },
};

export const NotesDefinition = {
  name: 'Notes',
  fullName: 'berth.test.v1.Notes',
  methods: {
    echo: {
      name: 'Echo',
      requestType: Note,
      requestStream: false,
      responseType: Note,
      responseStream: false,
      options: {},
    },
    wait: {
      name: 'Wait',
      requestType: Note,
      requestStream: false,
      responseType: Note,
      responseStream: false,
      options: {},
    },
    repeat: {
      name: 'Repeat',
      requestType: Note,
      requestStream: false,
      responseType: Note,
      responseStream: true,
      options: {},
    },
    collect: {
      name: 'Collect',
      requestType: Note,
      requestStream: true,
      responseType: Note,
      responseStream: false,
      options: {},
    },
    chat: {
      name: 'Chat',
      requestType: Note,
      requestStream: true,
      responseType: Note,
      responseStream: true,
      options: {},
    },
  },
} as const;

export const encodeNote = (note: Partial<Note>): Uint8Array =>
  Note.encode({ text: '', count: 0, ...note }).finish();

/** A frame-level peer for protocol tests: write raw bytes, read frames in order. */
export class RawPeer {
  private readonly reader = new FrameReader();
  private readonly events = new AsyncQueue<FrameEvent>();
  readonly closed: Promise<void>;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const ev of this.reader.push(chunk)) this.events.push(ev);
    });
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('close', () => this.events.end());
    socket.on('error', () => {});
  }

  static connect(path: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path, () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  request(id: number, req: Partial<RequestEnvelope>, flags = 0): void {
    const body = encodeRequest({ service: '', method: '', timeoutNano: 0n, metadata: [], ...req });
    this.write(encodeFrame(id, MessageType.Request, flags, body));
  }

  /** The next frame, failing the test after timeoutMs. */
  async next(timeoutMs = 2000): Promise<Frame> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no frame within timeout')), timeoutMs);
    });
    try {
      const r = await Promise.race([this.events.next(), timeout]);
      if (r.done) throw new Error('connection closed');
      if (r.value.kind !== 'frame') throw new Error('unexpected oversized frame');
      return { header: r.value.header, payload: r.value.payload };
    } finally {
      clearTimeout(timer);
    }
  }

  /** The next frame, which must be a Response; returns its stream id and decoded body. */
  async response(timeoutMs?: number) {
    const f = await this.next(timeoutMs);
    if (f.header.type !== MessageType.Response) {
      throw new Error(`expected a Response frame, got type ${f.header.type}`);
    }
    return { id: f.header.streamId, flags: f.header.flags, ...decodeResponse(f.payload) };
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A fresh directory for sockets; remove it with `fs.rmSync(dir, { recursive: true })`. */
export function tempSocketDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ttrpc-'));
}
