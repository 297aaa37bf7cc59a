// One repository on a registry as seen through its configured hosts: builds
// URLs, authorizes, retries transient failures with backoff, and turns
// registry answers into BerthErrors that say what failed and why.

import { BerthError, isBerthError } from '../../errors/catalogue.js';
import { VERSION } from '../../version.js';
import { Authorizer, type CredentialsLookup } from './auth.js';
import {
  type RetryOptions,
  RetryableError,
  isRetryableStatus,
  isTransient,
  withRetries,
} from './backoff.js';
import {
  type Capability,
  type HostsOptions,
  type RegistryHost,
  hostsWith,
  loadHosts,
} from './hosts.js';
import { type Reference, parseReference, repositoryName } from './reference.js';
import {
  DEFAULT_STALL_TIMEOUT_MS,
  type HttpRequest,
  type HttpResponse,
  Transport,
  discard,
  readAll,
} from './transport.js';

export interface RegistryOptions extends HostsOptions {
  /** Hosts to use instead of reading hosts.toml. */
  hosts?: RegistryHost[];
  credentials?: CredentialsLookup;
  retry?: RetryOptions;
  /** A transfer with no data for this long fails (default 60 s). */
  stallTimeoutMs?: number;
  userAgent?: string;
  signal?: AbortSignal;
}

const MAX_ERROR_BODY = 64 << 10;

/** `code: message` of a distribution error body, or a short text body. */
export function describeErrorBody(text: string): string {
  try {
    const doc = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    if (Array.isArray(doc.errors) && doc.errors.length) {
      return doc.errors
        .map((e) => [e.code, e.message].filter(Boolean).join(': '))
        .filter(Boolean)
        .join('; ');
    }
  } catch {
    // not JSON
  }
  const t = text.trim();
  return t.length <= 200 && !/[<>]/.test(t) ? t : '';
}

/** Maps an unexpected status to a BerthError with the registry's reason. */
export async function statusError(res: HttpResponse, what: string): Promise<BerthError> {
  let detail = '';
  try {
    detail = describeErrorBody((await readAll(res, 10_000, what, MAX_ERROR_BODY)).toString('utf8'));
  } catch {
    // the status alone will do
  }
  const msg = `${what}: ${res.status} ${res.statusText}${detail ? ` (${detail})` : ''}`;
  if (res.status === 404) return new BerthError('NotFound', msg);
  if (res.status === 401 || res.status === 403) return new BerthError('PermissionDenied', msg);
  if (res.status === 400 || res.status === 405 || res.status === 416)
    return new BerthError('InvalidArgument', msg);
  if (isRetryableStatus(res.status)) return new BerthError('Unavailable', msg);
  return new BerthError('Unknown', msg);
}

export interface SendRequest extends Omit<HttpRequest, 'url' | 'signal'> {
  /** Absolute URL, or a path under the repository (`manifests/latest`). */
  path: string;
  /** The access needed: `pull` or `pull,push`. */
  access: 'pull' | 'pull,push';
  /** What the request does, for messages. */
  what: string;
}

export class Repository {
  readonly transport: Transport;
  private readonly authorizer: Authorizer;

  private constructor(
    readonly ref: Reference,
    readonly hosts: RegistryHost[],
    readonly opts: RegistryOptions,
  ) {
    this.transport = new Transport(opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS);
    this.authorizer = new Authorizer(this.transport, opts.credentials);
  }

  static async open(ref: string | Reference, opts: RegistryOptions = {}): Promise<Repository> {
    const r = typeof ref === 'string' ? parseReference(ref) : ref;
    const hosts = opts.hosts ?? (await loadHosts(r.domain, opts));
    return new Repository(r, hosts, opts);
  }

  get name(): string {
    return repositoryName(this.ref);
  }

  get stallTimeoutMs(): number {
    return this.transport.stallTimeoutMs;
  }

  close(): void {
    this.transport.close();
  }

  /** `<api>/<repo>/<path>`; mirrors also learn the upstream namespace (`?ns=`). */
  url(host: RegistryHost, path: string): string {
    const u = new URL(`${host.scheme}://${host.host}${host.path}/${this.ref.path}/${path}`);
    if (!host.upstream) u.searchParams.set('ns', this.ref.domain);
    return u.href;
  }

  /** Hosts with a capability, or a clear error when none has it. */
  hostsFor(cap: Capability): RegistryHost[] {
    const hs = hostsWith(this.hosts, cap);
    if (hs.length === 0) {
      throw new BerthError(
        'FailedPrecondition',
        `no host configured for ${this.ref.domain} may ${cap}`,
      );
    }
    return hs;
  }

  /**
   * Sends a request to one host with authorization and retries. Returns any
   * response other than 401 and transient failures; the caller checks the
   * status and consumes the body.
   */
  async send(host: RegistryHost, req: SendRequest): Promise<HttpResponse> {
    const scopes = [`repository:${this.ref.path}:${req.access}`];
    const url = /^https?:\/\//.test(req.path) ? req.path : this.url(host, req.path);
    const attempt = async (): Promise<HttpResponse> => {
      for (let authTry = 0; ; authTry++) {
        const auth = await this.authorizer.header(host, scopes);
        const res = await this.transport.request(
          {
            method: req.method,
            url,
            body: req.body,
            signal: this.opts.signal,
            headers: {
              'user-agent': this.opts.userAgent ?? `berth/${VERSION}`,
              ...host.header,
              ...req.headers,
              ...(auth ? { authorization: auth } : {}),
            },
          },
          host,
        );
        if (res.status === 401) {
          discard(res);
          if (authTry >= 2) throw await statusError(res, req.what);
          await this.authorizer.unauthorized(host, res.headers['www-authenticate'], auth, req.what);
          continue;
        }
        if (isRetryableStatus(res.status)) {
          const err = await statusError(res, req.what);
          throw new RetryableError(err.message, err);
        }
        return res;
      }
    };
    try {
      return await withRetries(attempt, { ...this.opts.retry, signal: this.opts.signal });
    } catch (err) {
      if (err instanceof RetryableError) throw err.cause;
      if (isBerthError(err)) throw err;
      if (isTransient(err) || (err as NodeJS.ErrnoException).code) {
        throw new BerthError('Unavailable', `${req.what}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      throw err;
    }
  }

  /**
   * Runs `fn` against each host with the capability in order until one
   * succeeds. A miss on one host moves on to the next; if every host fails
   * the most telling error is thrown (anything other than NotFound first).
   */
  async eachHost<T>(cap: Capability, fn: (host: RegistryHost) => Promise<T>): Promise<T> {
    const errors: unknown[] = [];
    for (const host of this.hostsFor(cap)) {
      try {
        return await fn(host);
      } catch (err) {
        if (this.opts.signal?.aborted) throw err;
        errors.push(err);
      }
    }
    throw errors.find((e) => !isBerthError(e, 'NotFound')) ?? errors[0];
  }
}
