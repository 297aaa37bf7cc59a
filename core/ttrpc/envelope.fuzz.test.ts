import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectClearError, fuzz, hostileBytes, thrown } from '../../api/fuzz.js';
import {
  decodeRequest,
  decodeResponse,
  decodeStatus,
  encodeRequest,
  encodeResponse,
  encodeStatus,
  type RequestEnvelope,
  type RpcStatus,
} from './envelope.js';

// Well-formed UTF-16 only: a lone surrogate cannot survive UTF-8 and back.
const text = fc.string({ unit: 'grapheme', maxLength: 30 });
const bytes = fc.uint8Array({ maxLength: 64 });

const request: fc.Arbitrary<RequestEnvelope> = fc.record({
  service: text,
  method: text,
  payload: fc.option(fc.uint8Array({ minLength: 1, maxLength: 64 }), { nil: undefined }),
  timeoutNano: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  metadata: fc.array(fc.record({ key: text, value: text }), { maxLength: 4 }),
});

const status: fc.Arbitrary<RpcStatus> = fc.record({
  code: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  message: text,
  details: fc.array(fc.record({ typeUrl: text, value: bytes }), { maxLength: 3 }),
});

const response = fc.record({ status: fc.option(status, { nil: undefined }), payload: bytes });

/** Tags that nest protobuf groups far deeper than any real message. */
const deepGroups = fc.integer({ min: 1, max: 5000 }).map((n) => Buffer.alloc(n, 0x0b));

const decoders = [
  ['request', decodeRequest, request.map(encodeRequest)],
  ['response', decodeResponse, response.map(encodeResponse)],
  ['status', decodeStatus, status.map(encodeStatus)],
] as const;

describe('ttrpc envelopes (fuzz)', () => {
  it('round trip requests, responses and statuses', async () => {
    await fuzz(
      'ttrpc request round trip',
      fc.property(request, (req) => {
        const got = decodeRequest(encodeRequest(req));
        expect({ ...got, payload: got.payload && Buffer.from(got.payload) }).toEqual({
          ...req,
          payload: req.payload && Buffer.from(req.payload),
        });
      }),
    );
    await fuzz(
      'ttrpc response round trip',
      fc.property(response, (res) => {
        const got = decodeResponse(encodeResponse(res));
        expect(Buffer.from(got.payload)).toEqual(Buffer.from(res.payload));
        expect(got.status && decodeStatus(encodeStatus(got.status))).toEqual(
          res.status && decodeStatus(encodeStatus(res.status)),
        );
      }),
    );
    await fuzz(
      'ttrpc status round trip',
      fc.property(status, (s) => {
        const got = decodeStatus(encodeStatus(s));
        expect(got.code).toBe(s.code);
        expect(got.message).toBe(s.message);
        expect(got.details.map((d) => [d.typeUrl, Buffer.from(d.value)])).toEqual(
          s.details.map((d) => [d.typeUrl, Buffer.from(d.value)]),
        );
      }),
    );
  });

  for (const [name, decode, valid] of decoders) {
    it(`decoding a hostile ${name} returns or throws an Error with a message`, async () => {
      await fuzz(
        `ttrpc ${name} hostile`,
        fc.property(fc.oneof(hostileBytes(valid), deepGroups), (input) => {
          const err = thrown(() => decode(input));
          if (err !== undefined) {
            expectClearError(err, Error);
            expect((err as Error).message).not.toMatch(/call stack/);
          }
        }),
      );
    });
  }
});
