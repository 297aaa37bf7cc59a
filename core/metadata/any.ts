import { corrupt } from './transaction.js';

/** A protobuf Any as the stores hold it: the type URL and the serialized message. */
export interface AnyValue {
  typeUrl: string;
  value: Uint8Array;
}

/** The JSON form on disk: bytes as base64. */
export interface StoredAny {
  typeUrl: string;
  value: string;
}

export function encodeAny(any: AnyValue): StoredAny {
  return {
    typeUrl: any.typeUrl,
    value: Buffer.from(any.value.buffer, any.value.byteOffset, any.value.byteLength).toString(
      'base64',
    ),
  };
}

/** Decode a stored Any; `key` names the record for the corruption error. */
export function decodeAny(stored: unknown, key: string, field: string): AnyValue {
  const s = stored as Partial<StoredAny> | null;
  if (
    s === null ||
    typeof s !== 'object' ||
    typeof s.typeUrl !== 'string' ||
    typeof s.value !== 'string'
  ) {
    throw corrupt(key, `${field} is not an Any`);
  }
  return { typeUrl: s.typeUrl, value: new Uint8Array(Buffer.from(s.value, 'base64')) };
}

export function isAnyValue(v: unknown): v is AnyValue {
  const a = v as Partial<AnyValue> | null;
  return (
    a !== null &&
    typeof a === 'object' &&
    typeof a.typeUrl === 'string' &&
    a.value instanceof Uint8Array
  );
}
