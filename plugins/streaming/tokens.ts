import { randomBytes } from 'node:crypto';
import { errResourceExhausted } from '../../core/errors/catalogue.js';

// Single-use URLs: a token maps to the request it was issued for until it is
// used once or its TTL passes (containerd: 8 random bytes, one minute, at most
// 1000 outstanding).

export class TokenCache<T> {
  private readonly entries = new Map<string, { value: T; expires: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxInFlight: number,
    private readonly now: () => number = Date.now,
  ) {}

  insert(value: T): string {
    this.evictExpired();
    if (this.entries.size >= this.maxInFlight) {
      throw errResourceExhausted(`${this.entries.size} streaming requests in flight`);
    }
    let token: string;
    do token = randomBytes(8).toString('base64url');
    while (this.entries.has(token));
    this.entries.set(token, { value, expires: this.now() + this.ttlMs });
    return token;
  }

  /** The request for token, removing it; undefined if unknown, used or expired. */
  consume(token: string): T | undefined {
    const e = this.entries.get(token);
    if (!e) return undefined;
    this.entries.delete(token);
    return e.expires > this.now() ? e.value : undefined;
  }

  get size(): number {
    this.evictExpired();
    return this.entries.size;
  }

  private evictExpired(): void {
    const now = this.now();
    for (const [k, e] of this.entries) if (e.expires <= now) this.entries.delete(k);
  }
}
