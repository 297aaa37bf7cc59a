import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

// The ttrpc envelope messages (package ttrpc, request.proto) and google.rpc.Status,
// coded by hand so the transport does not depend on generated code.

export interface KeyValue {
  key: string;
  value: string;
}

export interface RequestEnvelope {
  /** Fully qualified service name, e.g. "containerd.task.v2.Task". */
  service: string;
  /** Bare method name, e.g. "Create". */
  method: string;
  /**
   * Encoded method message. Undefined when the field is absent on the wire; the
   * server then skips the implicit first message of a client-streaming call.
   */
  payload?: Uint8Array;
  /** Time left until the caller's deadline in nanoseconds; 0 means none. */
  timeoutNano: bigint;
  metadata: KeyValue[];
}

export interface AnyMessage {
  typeUrl: string;
  value: Uint8Array;
}

/** google.rpc.Status with gRPC code numbers. */
export interface RpcStatus {
  code: number;
  message: string;
  details: AnyMessage[];
}

export interface ResponseEnvelope {
  /** Present on every response the Go server writes, with code 0 on success. */
  status?: RpcStatus;
  payload: Uint8Array;
}

const LEN = WireType.LengthDelimited;
const VARINT = WireType.Varint;

export function encodeRequest(req: RequestEnvelope): Uint8Array {
  const w = new BinaryWriter();
  if (req.service) w.tag(1, LEN).string(req.service);
  if (req.method) w.tag(2, LEN).string(req.method);
  // proto3 omits empty bytes, which is also how Go marks "no initial message".
  if (req.payload && req.payload.length > 0) w.tag(3, LEN).bytes(req.payload);
  if (req.timeoutNano !== 0n) w.tag(4, VARINT).int64(req.timeoutNano);
  for (const kv of req.metadata) {
    w.tag(5, LEN).fork();
    if (kv.key) w.tag(1, LEN).string(kv.key);
    if (kv.value) w.tag(2, LEN).string(kv.value);
    w.join();
  }
  return w.finish();
}

export function decodeRequest(bytes: Uint8Array): RequestEnvelope {
  const r = new BinaryReader(bytes);
  const req: RequestEnvelope = { service: '', method: '', timeoutNano: 0n, metadata: [] };
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    switch (field) {
      case 1:
        expectWire(field, wt, LEN);
        req.service = r.string(true);
        break;
      case 2:
        expectWire(field, wt, LEN);
        req.method = r.string(true);
        break;
      case 3:
        expectWire(field, wt, LEN);
        req.payload = r.bytes();
        break;
      case 4:
        expectWire(field, wt, VARINT);
        req.timeoutNano = BigInt(r.int64());
        break;
      case 5:
        expectWire(field, wt, LEN);
        req.metadata.push(decodeKeyValue(r.bytes()));
        break;
      default:
        r.skip(wt, field);
    }
  }
  return req;
}

function decodeKeyValue(bytes: Uint8Array): KeyValue {
  const r = new BinaryReader(bytes);
  const kv: KeyValue = { key: '', value: '' };
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (field === 1) {
      expectWire(field, wt, LEN);
      kv.key = r.string(true);
    } else if (field === 2) {
      expectWire(field, wt, LEN);
      kv.value = r.string(true);
    } else {
      r.skip(wt, field);
    }
  }
  return kv;
}

export function encodeResponse(res: ResponseEnvelope): Uint8Array {
  const w = new BinaryWriter();
  if (res.status) {
    w.tag(1, LEN).fork();
    encodeStatusFields(w, res.status);
    w.join();
  }
  if (res.payload.length > 0) w.tag(2, LEN).bytes(res.payload);
  return w.finish();
}

export function decodeResponse(bytes: Uint8Array): ResponseEnvelope {
  const r = new BinaryReader(bytes);
  const res: ResponseEnvelope = { payload: new Uint8Array(0) };
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (field === 1) {
      expectWire(field, wt, LEN);
      res.status = decodeStatus(r.bytes());
    } else if (field === 2) {
      expectWire(field, wt, LEN);
      res.payload = r.bytes();
    } else {
      r.skip(wt, field);
    }
  }
  return res;
}

export function encodeStatus(status: RpcStatus): Uint8Array {
  const w = new BinaryWriter();
  encodeStatusFields(w, status);
  return w.finish();
}

function encodeStatusFields(w: BinaryWriter, status: RpcStatus): void {
  if (status.code !== 0) w.tag(1, VARINT).int32(status.code);
  if (status.message) w.tag(2, LEN).string(status.message);
  for (const any of status.details) {
    w.tag(3, LEN).fork();
    if (any.typeUrl) w.tag(1, LEN).string(any.typeUrl);
    if (any.value.length > 0) w.tag(2, LEN).bytes(any.value);
    w.join();
  }
}

export function decodeStatus(bytes: Uint8Array): RpcStatus {
  const r = new BinaryReader(bytes);
  const status: RpcStatus = { code: 0, message: '', details: [] };
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (field === 1) {
      expectWire(field, wt, VARINT);
      status.code = r.int32();
    } else if (field === 2) {
      expectWire(field, wt, LEN);
      status.message = r.string(true);
    } else if (field === 3) {
      expectWire(field, wt, LEN);
      status.details.push(decodeAny(r.bytes()));
    } else {
      r.skip(wt, field);
    }
  }
  return status;
}

function decodeAny(bytes: Uint8Array): AnyMessage {
  const r = new BinaryReader(bytes);
  const any: AnyMessage = { typeUrl: '', value: new Uint8Array(0) };
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (field === 1) {
      expectWire(field, wt, LEN);
      any.typeUrl = r.string(true);
    } else if (field === 2) {
      expectWire(field, wt, LEN);
      any.value = r.bytes();
    } else {
      r.skip(wt, field);
    }
  }
  return any;
}

function expectWire(field: number, got: WireType, want: WireType): void {
  if (got !== want) {
    throw new Error(`proto: field ${field} has wire type ${got}, expected ${want}`);
  }
}
