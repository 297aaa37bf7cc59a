// nghttp2 (inside Node's http2) resets any request whose :authority or host is
// empty, missing, or holds a byte outside the authority characters below; grpc-go
// clients up to kubelet 1.30 send the socket path there, and some clients send
// none. This rewrites one client header block so nghttp2 accepts it, without
// disturbing HPACK state: a bad value is replaced by one of the same length and
// representation, so the server's dynamic table keeps the client's entry sizes.

import { type DecodedField, encodeInteger, encodeString, HpackDecoder } from './hpack.js';

/** The bytes nghttp2 accepts in :authority and host (measured against Node 20's nghttp2). */
const AUTHORITY_CHARS =
  "!$%&'()*+,-.0123456789:;=@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]_abcdefghijklmnopqrstuvwxyz~";
const VALID = new Uint8Array(256);
for (const c of AUTHORITY_CHARS) VALID[c.charCodeAt(0)] = 1;

const REPLACEMENT = '_'.charCodeAt(0);
/** What a request without a usable authority gets. */
export const DEFAULT_AUTHORITY = 'localhost';
// `:authority` (static index 1) as a literal without indexing: no table change.
const INSERTED = Buffer.from([
  ...encodeInteger(1, 4, 0x00),
  ...encodeString(Buffer.from(DEFAULT_AUTHORITY)),
]);

const isAuthority = (name: string) => name === ':authority' || name === 'host';

/** A decoder for the client → server direction that decodes only the values this file checks. */
export function clientHeaderDecoder(): HpackDecoder {
  return new HpackDecoder(isAuthority);
}

function sanitized(value: string): Buffer | undefined {
  let out: Buffer | undefined;
  for (let i = 0; i < value.length; i++) {
    if (VALID[value.charCodeAt(i)]) continue;
    out ??= Buffer.from(value, 'latin1');
    out[i] = REPLACEMENT;
  }
  return out;
}

/**
 * Decodes `block` (advancing the decoder's table) and returns the block to send
 * on, or undefined when it can go unchanged. Changes: an invalid :authority or
 * host value is replaced in place; an empty one that is not being added to the
 * table is dropped; a request (it has :method) left without either gets
 * `:authority: localhost`. An empty value the client adds to its table is left
 * as it is, since no same-size valid value exists (no known client sends one).
 */
export function fixAuthority(decoder: HpackDecoder, block: Buffer): Buffer | undefined {
  const fields = decoder.decode(block);
  let parts: Buffer[] | undefined;
  let copied = 0;
  const replace = (f: DecodedField, bytes?: Buffer) => {
    parts ??= [];
    parts.push(block.subarray(copied, f.start));
    if (bytes) parts.push(bytes);
    copied = f.end;
  };
  let request = false;
  let hasAuthority = false;
  let insertAt = 0;
  for (const f of fields) {
    if (f.kind === 'size-update') {
      insertAt = f.end;
      continue;
    }
    if (f.name === ':method') request = true;
    if (!isAuthority(f.name)) continue;
    const value = f.value!;
    if (value.length === 0) {
      if (f.kind === 'incremental') hasAuthority = true;
      else replace(f);
      continue;
    }
    hasAuthority = true;
    // An indexed entry was already replaced when it was added.
    const fixed = f.kind === 'indexed' ? undefined : sanitized(value);
    if (fixed)
      replace(f, Buffer.concat([block.subarray(f.start, f.valueStart), encodeString(fixed)]));
  }
  if (request && !hasAuthority) {
    const out = [block.subarray(0, insertAt), INSERTED];
    if (parts) {
      // Dropped fields come after insertAt, so the head is unchanged.
      parts[0] = parts[0]!.subarray(insertAt);
      out.push(...parts);
    } else {
      copied = insertAt;
    }
    parts = out;
  }
  if (!parts) return undefined;
  parts.push(block.subarray(copied));
  return Buffer.concat(parts);
}
