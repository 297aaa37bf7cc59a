import type { Metadata } from '@grpc/grpc-js';
import { validateIdentifier } from '../../core/identifiers.js';

/** Per-call context every local service method receives. */
export interface CallContext {
  namespace: string;
  /** Lease selected with the `containerd-lease` header, if any. */
  lease?: string;
  signal: AbortSignal;
}

export const NAMESPACE_HEADER = 'containerd-namespace';
export const NAMESPACE_HEADER_TTRPC = 'containerd-namespace-ttrpc';
export const LEASE_HEADER = 'containerd-lease';
export const DEFAULT_NAMESPACE = 'default';

function first(md: Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  return v === undefined ? undefined : String(v);
}

/**
 * Builds the context from gRPC metadata; the namespace is validated at the
 * boundary. `signal` is called once, when the method first reads
 * `ctx.signal`: most methods never do, and an AbortSignal is not free.
 */
export function contextFromMetadata(md: Metadata, signal: () => AbortSignal): CallContext {
  const namespace = first(md, NAMESPACE_HEADER) || DEFAULT_NAMESPACE;
  validateIdentifier(namespace);
  const lease = first(md, LEASE_HEADER);
  let made: AbortSignal | undefined;
  return {
    namespace,
    lease: lease || undefined,
    get signal() {
      return (made ??= signal());
    },
  };
}
