// Registry authorization: remembers each host's challenge, answers Basic
// challenges with the user's credentials and Bearer challenges with tokens
// fetched from the challenge's realm (docker's token protocol), cached per
// host and scope until they expire.

import { BerthError } from '../../errors/catalogue.js';
import { type Challenge, parseWWWAuthenticate } from './auth-challenge.js';
import type { RegistryHost } from './hosts.js';
import { readAll, type Transport } from './transport.js';

export interface RegistryCredentials {
  username: string;
  /** Password or identity token. */
  secret: string;
}

/** Credentials for a host (host[:port] as configured), or undefined for anonymous. */
export type CredentialsLookup = (
  host: string,
) => RegistryCredentials | undefined | Promise<RegistryCredentials | undefined>;

/** Tokens without `expires_in` are good for 60 seconds (docker's token spec). */
const DEFAULT_TOKEN_LIFETIME_S = 60;
const MAX_TOKEN_RESPONSE = 1 << 20;

function permissionDenied(message: string): BerthError {
  return new BerthError('PermissionDenied', message);
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

function basic(c: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.secret}`).toString('base64')}`;
}

/** The scopes to ask for: ours plus any the registry named in its challenge. */
export function mergeScopes(ours: string[], challenge?: string): string[] {
  const all = new Set(ours);
  for (const s of (challenge ?? '').split(' ')) if (s) all.add(s);
  return [...all].sort();
}

export class Authorizer {
  private readonly challenges = new Map<string, Challenge>();
  private readonly tokens = new Map<string, CachedToken>();

  constructor(
    private readonly transport: Transport,
    private readonly credentials?: CredentialsLookup,
  ) {}

  /** The Authorization header for a request, once the host has challenged us. */
  async header(host: RegistryHost, scopes: string[]): Promise<string | undefined> {
    const ch = this.challenges.get(host.host);
    if (!ch) return undefined;
    if (ch.scheme === 'basic') {
      const creds = await this.credentials?.(host.host);
      return creds ? basic(creds) : undefined;
    }
    const want = mergeScopes(scopes, ch.params.scope);
    const key = `${host.host} ${want.join(' ')}`;
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
    const token = await this.fetchToken(host, ch, want);
    this.tokens.set(key, token);
    return `Bearer ${token.token}`;
  }

  /**
   * Records a 401's challenge. Returns whether another attempt can carry
   * credentials it did not carry before; otherwise throws a clear error.
   */
  async unauthorized(
    host: RegistryHost,
    wwwAuthenticate: string | string[] | undefined,
    sent: string | undefined,
    what: string,
  ): Promise<void> {
    const all = parseWWWAuthenticate(wwwAuthenticate);
    const ch = all.find((c) => c.scheme === 'bearer') ?? all.find((c) => c.scheme === 'basic');
    if (!ch) {
      throw permissionDenied(`${what}: 401 Unauthorized with no usable WWW-Authenticate challenge`);
    }
    const previous = this.challenges.get(host.host);
    this.challenges.set(host.host, ch);
    if (ch.scheme === 'basic') {
      const creds = await this.credentials?.(host.host);
      if (!creds) {
        throw permissionDenied(
          `${what}: 401 Unauthorized: ${host.host} requires credentials (basic auth) and none were given`,
        );
      }
      if (sent?.startsWith('Basic ')) {
        throw permissionDenied(
          `${what}: 401 Unauthorized: the registry refused the credentials for ${host.host}`,
        );
      }
      return;
    }
    if (sent?.startsWith('Bearer ')) {
      // Retrying only helps when the registry now asks for a scope we lacked.
      const sameScope = previous?.scheme === 'bearer' && previous.params.scope === ch.params.scope;
      if (sameScope || ch.params.error !== 'insufficient_scope') {
        const creds = await this.credentials?.(host.host);
        throw permissionDenied(
          `${what}: 401 Unauthorized: the token from ${ch.params.realm} was refused` +
            (creds ? '' : ' (anonymous access; credentials may be required)'),
        );
      }
    }
    // Drop tokens cached for this host: they were not good enough.
    for (const k of this.tokens.keys()) if (k.startsWith(`${host.host} `)) this.tokens.delete(k);
  }

  private async fetchToken(
    host: RegistryHost,
    ch: Challenge,
    scopes: string[],
  ): Promise<CachedToken> {
    const realm = ch.params.realm;
    if (!realm) throw permissionDenied(`${host.host}: bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw permissionDenied(
        `${host.host}: bearer challenge with an invalid realm ${JSON.stringify(realm)}`,
      );
    }
    if (ch.params.service) url.searchParams.set('service', ch.params.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const creds = await this.credentials?.(host.host);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (creds) {
      headers.authorization = basic(creds);
      url.searchParams.set('account', creds.username);
    }
    const started = Date.now();
    const res = await this.transport.request({ method: 'GET', url: url.href, headers }, host);
    const text = await readAll(
      res,
      this.transport.stallTimeoutMs,
      `token from ${realm}`,
      MAX_TOKEN_RESPONSE,
    );
    if (res.status === 401 || res.status === 403) {
      throw permissionDenied(
        `fetching ${creds ? '' : 'anonymous '}token from ${url.origin}${url.pathname}: ${res.status} ${res.statusText}` +
          (creds ? ' (credentials refused)' : ''),
      );
    }
    if (res.status !== 200) {
      throw new BerthError(
        'Unavailable',
        `fetching token from ${url.origin}${url.pathname}: ${res.status} ${res.statusText}`,
      );
    }
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(text.toString('utf8'));
    } catch {
      throw new BerthError(
        'Unavailable',
        `token response from ${url.origin}${url.pathname} is not JSON`,
      );
    }
    const token =
      typeof parsed.token === 'string' && parsed.token ? parsed.token : parsed.access_token;
    if (typeof token !== 'string' || !token) {
      throw new BerthError(
        'Unavailable',
        `token response from ${url.origin}${url.pathname} has no token`,
      );
    }
    const lifetime =
      typeof parsed.expires_in === 'number' && parsed.expires_in > 0
        ? parsed.expires_in
        : DEFAULT_TOKEN_LIFETIME_S;
    // Renew a little early so a token never expires mid-request.
    return { token, expiresAt: started + Math.max(1, lifetime - 5) * 1000 };
  }
}
