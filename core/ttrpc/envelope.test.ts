import { describe, expect, it } from 'vitest';
import {
  decodeRequest,
  decodeResponse,
  decodeStatus,
  encodeRequest,
  encodeResponse,
  encodeStatus,
} from './envelope.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('Request envelope', () => {
  it('encodes the fields with the ttrpc field numbers', () => {
    const bytes = encodeRequest({
      service: 'a',
      method: 'b',
      payload: new Uint8Array([1]),
      timeoutNano: 1n,
      metadata: [{ key: 'k', value: 'v' }],
    });
    // 1:"a" 2:"b" 3:0x01 4:1 5:{1:"k" 2:"v"}
    expect(hex(bytes)).toBe('0a0161' + '120162' + '1a0101' + '2001' + '2a06' + '0a016b' + '120176');
  });

  it('round trips metadata, repeated keys and a large timeout', () => {
    const req = {
      service: 'containerd.task.v2.Task',
      method: 'Create',
      payload: new Uint8Array([8, 1]),
      timeoutNano: 90_000_000_000n,
      metadata: [
        { key: 'containerd-namespace', value: 'default' },
        { key: 'x', value: '1' },
        { key: 'x', value: '2' },
      ],
    };
    expect(decodeRequest(encodeRequest(req))).toEqual(req);
  });

  it('round trips a negative timeout as int64', () => {
    const req = { service: 's', method: 'm', timeoutNano: -5n, metadata: [] };
    const bytes = encodeRequest(req);
    expect(bytes.length).toBe(3 + 3 + 11); // negative int64 varints take 10 bytes
    expect(decodeRequest(bytes).timeoutNano).toBe(-5n);
  });

  it('tells an absent payload from a present empty one', () => {
    const absent = decodeRequest(
      encodeRequest({ service: 's', method: 'm', timeoutNano: 0n, metadata: [] }),
    );
    expect(absent.payload).toBeUndefined();
    // An explicitly empty field on the wire is a present payload.
    const present = decodeRequest(new Uint8Array([0x0a, 0x01, 0x73, 0x1a, 0x00]));
    expect(present.payload).toEqual(new Uint8Array(0));
  });

  it('skips unknown fields', () => {
    const req = decodeRequest(new Uint8Array([0x0a, 0x01, 0x73, 0x30, 0x07, 0x12, 0x01, 0x6d]));
    expect(req).toMatchObject({ service: 's', method: 'm' });
  });

  it('rejects garbage', () => {
    expect(() => decodeRequest(new Uint8Array([0x0a, 0x05, 0x61]))).toThrow(); // truncated
    expect(() => decodeRequest(new Uint8Array([0x08, 0x01]))).toThrow(/wire type/); // varint service
    expect(() => decodeRequest(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toThrow();
    expect(() => decodeRequest(new Uint8Array([0x0a, 0x01, 0xff]))).toThrow(); // invalid UTF-8
  });
});

describe('Response envelope', () => {
  it('writes an OK status as a present, empty message', () => {
    const bytes = encodeResponse({
      status: { code: 0, message: '', details: [] },
      payload: new Uint8Array([8, 42]),
    });
    expect(hex(bytes)).toBe('0a00' + '1202082a');
    const back = decodeResponse(bytes);
    expect(back.status).toEqual({ code: 0, message: '', details: [] });
    expect(back.payload).toEqual(new Uint8Array([8, 42]));
  });

  it('leaves status undefined when absent', () => {
    expect(decodeResponse(new Uint8Array(0))).toEqual({ payload: new Uint8Array(0) });
  });

  it('round trips an error status with details', () => {
    const res = {
      status: {
        code: 5,
        message: 'container "x": not found',
        details: [{ typeUrl: 'type.googleapis.com/x.Y', value: new Uint8Array([1, 2]) }],
      },
      payload: new Uint8Array(0),
    };
    expect(decodeResponse(encodeResponse(res))).toEqual(res);
  });

  it('codes google.rpc.Status on its own', () => {
    const st = { code: 12, message: 'method Nope', details: [] };
    expect(hex(encodeStatus(st))).toBe(
      '080c' + '120b' + Buffer.from('method Nope').toString('hex'),
    );
    expect(decodeStatus(encodeStatus(st))).toEqual(st);
    expect(() => decodeStatus(new Uint8Array([0x0a, 0x00]))).toThrow(/wire type/);
  });
});
