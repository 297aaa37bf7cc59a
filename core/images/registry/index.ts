// Registry client library (OCI distribution spec): references, host
// configuration, authorization, resolve, fetch and push. No daemon code.

export * from './reference.js';
export { parseWWWAuthenticate, type Challenge } from './auth-challenge.js';
export * from './hosts.js';
export * from './backoff.js';
export { Limiter } from './limiter.js';
export {
  Authorizer,
  mergeScopes,
  type CredentialsLookup,
  type RegistryCredentials,
} from './auth.js';
export { DEFAULT_STALL_TIMEOUT_MS, StallError } from './transport.js';
export { Repository, describeErrorBody, type RegistryOptions } from './repository.js';
export { resolve, MANIFEST_ACCEPT, type Resolved } from './resolver.js';
export { fetch, fetchManifestBytes, type Fetched } from './fetcher.js';
export {
  blobExists,
  pushBlob,
  pushManifest,
  DEFAULT_CHUNK_SIZE,
  type BlobPushOptions,
} from './pusher.js';
