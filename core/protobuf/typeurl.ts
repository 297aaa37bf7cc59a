import type { BinaryWriter } from '@bufbuild/protobuf/wire';
import type { Any } from '../../api/gen/google/protobuf/any.js';

interface Encoder<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
}
interface Decoder<T> {
  decode(input: Uint8Array): T;
}

/**
 * Packs a message into an Any. containerd resolves event and option types by
 * the bare protobuf full name (no `types.googleapis.com/` prefix), so we use
 * the same URLs.
 */
export function packAny<T>(typeUrl: string, fns: Encoder<T>, message: T): Any {
  return { typeUrl, value: fns.encode(message).finish() };
}

export function unpackAny<T>(
  any: Any | undefined,
  typeUrl: string,
  fns: Decoder<T>,
): T | undefined {
  if (!any || stripPrefix(any.typeUrl) !== typeUrl) return undefined;
  return fns.decode(any.value);
}

export function stripPrefix(typeUrl: string): string {
  const i = typeUrl.lastIndexOf('/');
  return i >= 0 && typeUrl.startsWith('types.') ? typeUrl.slice(i + 1) : typeUrl;
}

/** JSON-in-Any, as containerd carries OCI specs and process specs. */
export const OCI_SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
export const OCI_PROCESS_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';
export const OCI_RESOURCES_TYPE_URL =
  'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources';

export function packJson(typeUrl: string, value: unknown): Any {
  return { typeUrl, value: new TextEncoder().encode(JSON.stringify(value)) };
}

export function unpackJson<T>(any: Any | undefined): T | undefined {
  if (!any || any.value.length === 0) return undefined;
  return JSON.parse(new TextDecoder().decode(any.value)) as T;
}
