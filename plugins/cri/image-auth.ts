// The kubelet's registry credentials (runtime.v1 AuthConfig) as the registry
// client's per-host credentials lookup.

import type { AuthConfig } from '../../api/gen/cri/runtime/v1/api.js';
import { BerthError } from '../../core/errors/catalogue.js';
import type { RegistryCredentials } from '../../core/images/registry/index.js';

/** `host[:port]` of an auth config's server address (`https://host/v1/` → `host`). */
function serverHost(addr: string): string {
  return addr.replace(/^[a-z]+:\/\//i, '').split('/')[0]!;
}

/**
 * The kubelet's credentials for a registry host: username/password, the
 * base64 `auth` pair or an identity token. A config naming a server applies
 * to that host only; one naming none to every host of the pull (mirrors too).
 */
export function credentialsFrom(
  auth: AuthConfig | undefined,
): ((host: string) => RegistryCredentials | undefined) | undefined {
  if (!auth) return undefined;
  let username = auth.username;
  let secret = auth.password;
  if (auth.auth) {
    const pair = Buffer.from(auth.auth, 'base64').toString('utf8');
    const colon = pair.indexOf(':');
    if (colon < 0)
      throw new BerthError('InvalidArgument', 'auth.auth is not base64 of user:password');
    username = pair.slice(0, colon);
    secret = pair.slice(colon + 1);
  }
  if (auth.identityToken) secret = auth.identityToken;
  if (!username && !secret) return undefined;
  const only = auth.serverAddress ? serverHost(auth.serverAddress) : '';
  return (host) => (!only || only === host ? { username, secret } : undefined);
}
